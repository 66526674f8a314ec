/**
 * `ClusterUpgrade` (kube-upkeep:index:ClusterUpgrade): a rolling kubeadm upgrade of a whole
 * cluster as Pulumi dependencies:
 *
 *   etcd snapshot (remote.Command on the first control-plane node)
 *     -> control-plane node 1 (kubeadm upgrade apply) -> control-plane node 2 -> ... (one at a time)
 *     -> workers as k parallel chains (worker i starts after worker i-k is uncordoned)
 *
 * Each node is a `NodeUpgrade` (preflight -> drain -> upgrade command -> wait Ready at target ->
 * uncordon). Every node's preflight runs first, all of them before the etcd snapshot and the first
 * drain: a node that fails its preflight stops the roll before anything is cordoned, whichever
 * node it is (each drain waits for every preflight, not only its own).
 * The version skew policy, the plan and every node's settings (its rendered script, its command
 * override, the drain options) are checked when the component is constructed, i.e. in
 * `pulumi preview`, and before anything is registered (the component itself included), so that
 * even `pulumi up --skip-preview` starts nothing when any node's input is bad; problems throw
 * one ValidationErrors naming the component, the node and the field of each. The plan is printed (pulumi.log.info) and exposed as the outputs `plan` / `planText`.
 *
 * With `report: { path }`, each `pulumi up` writes a roll report (JSON and one HTML page with a
 * timeline) under `path`, built from the steps' own records; see roll-report.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { App, Chart } from "cdk8s";
import { ProblemCollector, ValidationError } from "../core/errors";
import {
  formatPlan,
  planUpgrade,
  type FailurePolicy,
  type NodeRole,
  type UpgradePlan,
} from "../core/plan";
import { renderEtcdBackupScript, type EtcdBackupScriptOptions } from "../core/scripts/etcd-backup";
import { parseKubeVersion, type KubeVersion } from "../core/version";
import { EtcdBackup, type EtcdBackupProps } from "../cdk8s/etcd-backup";
import { Cdk8sManifests } from "./cdk8s-chart";
import { checkRollReportSettings, startRollReport, type RollReportSettings } from "./roll-report";
import type { NodeDrainOptions } from "./node-drain";
import {
  checkNodeUpgradeSettings,
  NodeUpgrade,
  preflightPlan,
  renderPreflightScript,
  renderUpgradeScript,
  secretConnection,
  type NodePreflightSettings,
  type NodeUpgradeScriptSettings,
  type SshConnection,
} from "./node-upgrade";

/** A node of the cluster. */
export interface ClusterNode {
  /** The Kubernetes node name. */
  readonly name: string;
  readonly role: NodeRole;
  /** SSH connection to the node. */
  readonly connection: SshConnection;
  /**
   * The node's current kubelet version, "v1.34.2".
   * @default the ClusterUpgrade's currentVersion
   */
  readonly version?: string;
  /** Per-node script settings (merged over the ClusterUpgrade's `script`). */
  readonly script?: NodeUpgradeScriptSettings;
  /**
   * Per-node preflight settings (merged over the ClusterUpgrade's `preflight`, `checks` key by
   * key), or `false` to skip this node's preflight.
   */
  readonly preflight?: ClusterPreflightSettings | false;
}

/** Preflight settings of a roll or a node (the command is `preflightOverride`). */
export type ClusterPreflightSettings = Omit<NodePreflightSettings, "command">;

/** What `commandOverride` gets to build a node's command. */
export interface NodeCommandContext {
  readonly nodeName: string;
  readonly role: NodeRole;
  readonly mode: "apply" | "node";
  readonly fromVersion: string;
  readonly targetVersion: string;
}

/** The pre-upgrade etcd snapshot (runs the EtcdBackup script over SSH on the first control-plane node). */
export interface EtcdSnapshotSettings extends EtcdBackupScriptOptions {
  /** @default true */
  readonly enabled?: boolean;
  /**
   * Replaces the rendered backup script: the command run over SSH on the first control-plane
   * node instead.
   */
  readonly command?: pulumi.Input<string>;
}

export interface ClusterUpgradeArgs {
  /** Every node to upgrade; the first control-plane node runs `kubeadm upgrade apply`. */
  readonly nodes: readonly ClusterNode[];
  /** The version to upgrade to, "v1.35.4". */
  readonly targetVersion: string;
  /** The cluster's current version: the default of each node's `version`. */
  readonly currentVersion?: string;
  /**
   * Workers out at once: a count or a percentage of the workers ("25%", rounded down, at least 1).
   * @default 1
   */
  readonly maxUnavailable?: number | string;
  /** @default "leave-cordoned" */
  readonly failurePolicy?: FailurePolicy;
  /** kubeconfig YAML (made secret). */
  readonly kubeconfig: pulumi.Input<string>;
  /**
   * The pre-upgrade etcd snapshot; `false` to skip it.
   * @default { enabled: true } with the EtcdBackup defaults (kubeadm certificates, /var/backups/etcd)
   */
  readonly etcdSnapshot?: EtcdSnapshotSettings | false;
  /**
   * Also ensure the scheduled EtcdBackup CronJob(s) exist (a `Cdk8sManifests` child named
   * `<name>-etcd-backup`, deployed with the kubeconfig). Its script options (endpoint,
   * certificates, backupDir, retention) default to those of `etcdSnapshot`. Not part of the
   * upgrade chain: nothing waits for it and it waits for nothing.
   * @default - not managed
   */
  readonly ensureEtcdBackupCronJob?: EtcdBackupProps;
  /** Drain options for every node (timeoutSeconds, ignoreDaemonSets, deleteEmptyDirData, ...). */
  readonly drain?: NodeDrainOptions;
  /** Script settings for every node (package manager, package version, sudo, kubeadm flags). */
  readonly script?: NodeUpgradeScriptSettings;
  /**
   * Replaces the rendered upgrade script on every node: a command, or a function of the node.
   * For other OS tooling, or simulated nodes.
   */
  readonly commandOverride?:
    pulumi.Input<string> | ((node: NodeCommandContext) => pulumi.Input<string>);
  /**
   * The preflight of every node before anything is drained (lib/core/scripts/node-preflight.ts:
   * packages in the repository the upgrade will use, cgroup v2 for >= 1.35, free disk, swap, the
   * container runtime), or `false` for none. Nodes' own `preflight` settings merge over it.
   * @default the rendered preflight with its defaults; none with a `commandOverride` (give
   *   `preflight: {}` to run the rendered one anyway, or `preflightOverride`)
   */
  readonly preflight?: ClusterPreflightSettings | false;
  /**
   * Replaces the rendered preflight on every node: a command, or a function of the node. It must
   * change nothing; a non-zero exit stops the roll before any node is drained. For simulated
   * nodes or other OS tooling (pairs with `commandOverride`).
   */
  readonly preflightOverride?:
    pulumi.Input<string> | ((node: NodeCommandContext) => pulumi.Input<string>);
  /** @default 600 */
  readonly readyTimeoutSeconds?: number;
  /**
   * Names this run; the cordon annotation of each node is "<runId>@<targetVersion>".
   * @default the resource name
   */
  readonly runId?: string;
  /**
   * Write a report of each `pulumi up` into `<path>/<UTC start time>/`: `report.html` (one
   * self-contained page: a header with the versions, duration, evictions, PDB retries and the
   * result, and a timeline with one row per node in plan order), `report.json` and the records
   * it is built from (`events.jsonl`). Written as the roll goes, and also when it fails.
   * @default - no report
   */
  readonly report?: RollReportSettings;
}

export class ClusterUpgrade extends pulumi.ComponentResource {
  /** The plan, as data (steps, chains, versions). */
  public readonly plan: pulumi.Output<UpgradePlan>;
  /** The plan as the table printed in preview. */
  public readonly planText: pulumi.Output<string>;
  /** The pre-upgrade snapshot command (undefined when disabled or nothing to do). */
  public readonly snapshot?: command.remote.Command;
  /** The per-node upgrades, by node name (nodes already at the target have none). */
  public readonly nodeUpgrades: Readonly<Record<string, NodeUpgrade>>;
  /** The EtcdBackup CronJob(s), when `ensureEtcdBackupCronJob` is set. */
  public readonly etcdBackupCronJob?: Cdk8sManifests;
  /** Kubelet version each upgraded node reported at the end. */
  public readonly kubeletVersions: pulumi.Output<Record<string, string>>;
  /** This run's report page (report.html), when `report` is set; undefined in a preview. */
  public readonly reportFile?: string;

  constructor(name: string, args: ClusterUpgradeArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything is validated before anything (this component included) is registered: with
    // `pulumi up --skip-preview` a registered snapshot or drain starts at once.
    const { plan, target, snapshotSettings, snapshotScript, cronJobChart, commands } =
      prepareClusterUpgrade(name, args);
    super("kube-upkeep:index:ClusterUpgrade", name, {}, opts);

    const text = formatPlan(plan);
    pulumi.log.info(text, this);
    for (const w of plan.warnings) pulumi.log.warn(`[${w.rule}] ${w.message}. ${w.fix}`, this);
    this.plan = pulumi.output(plan);
    this.planText = pulumi.output(text);

    const byName = new Map(args.nodes.map((n) => [n.name, n]));
    const report = startRollReport(
      name,
      args.report,
      plan,
      `${args.runId ?? name}@${target.text}`,
      this,
    );
    this.reportFile = report?.html;
    const kubeconfig = pulumi.secret(args.kubeconfig);
    const done = new Map<string, pulumi.Resource>();
    const nodeUpgrades: Record<string, NodeUpgrade> = {};
    let snapshot: command.remote.Command | undefined;
    // Every node's preflight, once all are constructed: the snapshot and every drain wait for all of
    // them, so a failing preflight stops the roll before anything is cordoned (the preflights
    // themselves wait for nothing and run concurrently, up to `pulumi up --parallel`).
    let allPreflightsKnown!: (preflights: pulumi.Resource[]) => void;
    const allPreflights = new Promise<pulumi.Resource[]>((resolve) => {
      allPreflightsKnown = resolve;
    });

    for (const step of plan.steps) {
      if (step.action === "skip") continue;
      const after = step.dependsOn.map((d) => done.get(d)!);
      if (step.action === "etcd-snapshot") {
        const cp1 = byName.get(step.node!)!;
        snapshot = new command.remote.Command(
          `${name}-etcd-snapshot`,
          {
            connection: secretConnection(cp1.connection),
            create:
              snapshotSettings?.command ??
              'if [ "$(id -u)" -eq 0 ]; then bash -s; else sudo -n bash -s; fi',
            stdin: snapshotSettings?.command === undefined ? snapshotScript : undefined,
            triggers: [target.text],
            logging: "stdoutAndStderr",
          },
          { parent: this, dependsOn: allPreflights },
        );
        done.set(step.id, snapshot);
        report?.watch(snapshot, "snapshot");
        continue;
      }
      const node = byName.get(step.node!)!;
      const { mode, override, preflight } = commands.get(step.id)!;
      const upgrade = new NodeUpgrade(
        `${name}-${node.name}`,
        {
          nodeName: node.name,
          targetVersion: target.text,
          mode,
          kubeconfig,
          connection: node.connection,
          runId: args.runId ?? name,
          drain: args.drain,
          script: { ...args.script, ...node.script },
          command: override,
          preflight,
          // The previous step's last resource (its uncordon) and every node's preflight. Not the
          // component's dependsOn: that would hold back this node's preflight too.
          drainAfter: allPreflights.then((all) => [...after, ...all]),
          readyTimeoutSeconds: args.readyTimeoutSeconds,
          report: report?.target,
        },
        { parent: this },
      );
      nodeUpgrades[node.name] = upgrade;
      for (const [step, res] of [
        ["drain", upgrade.drain],
        ["upgrade", upgrade.upgrade],
        ["ready", upgrade.ready],
        ["uncordon", upgrade.uncordon],
      ] as const)
        report?.watch(res, step, node.name);
      done.set(step.id, upgrade.uncordon);
    }
    allPreflightsKnown(
      Object.values(nodeUpgrades).flatMap((u) => (u.preflight ? [u.preflight] : [])),
    );
    this.snapshot = snapshot;
    this.nodeUpgrades = nodeUpgrades;
    if (cronJobChart)
      this.etcdBackupCronJob = new Cdk8sManifests(
        `${name}-etcd-backup`,
        { app: cronJobChart, kubeconfig },
        { parent: this },
      );
    this.kubeletVersions = pulumi
      .all(
        Object.entries(nodeUpgrades).map(([n, u]) =>
          u.kubeletVersion.apply((v) => [n, v] as const),
        ),
      )
      .apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({
      plan: this.plan,
      planText: this.planText,
      kubeletVersions: this.kubeletVersions,
    });
  }
}

/** A node's commands as prepareClusterUpgrade resolved them. */
interface NodeCommands {
  readonly mode: "apply" | "node";
  readonly override?: pulumi.Input<string>;
  readonly preflight?: NodePreflightSettings | false;
}

/**
 * A node's preflight settings: its own merged over the roll's (`checks` key by key); `false` when
 * the node's is false, or the roll's is and the node has none of its own.
 */
function mergePreflight(
  roll: ClusterPreflightSettings | false | undefined,
  own: ClusterPreflightSettings | false | undefined,
): ClusterPreflightSettings | false | undefined {
  if (own === false || (roll === false && own === undefined)) return false;
  if (roll === undefined && own === undefined) return undefined;
  const r = roll || {};
  const o = own ?? {};
  const checks = r.checks || o.checks ? { ...r.checks, ...o.checks } : undefined;
  return { ...r, ...o, ...(checks ? { checks } : {}) };
}

/** What prepareClusterUpgrade resolved, for the constructor to build the resources from. */
interface PreparedClusterUpgrade {
  readonly plan: UpgradePlan;
  readonly target: KubeVersion;
  readonly snapshotSettings?: EtcdSnapshotSettings;
  readonly snapshotScript?: string;
  readonly cronJobChart?: Chart;
  /**
   * Per node step id: the kubeadm mode, the command override (undefined: the rendered script) and
   * the node's preflight settings (with the override's command).
   */
  readonly commands: ReadonlyMap<string, NodeCommands>;
}

/**
 * Validates the whole roll, every node's settings included (each node's script is rendered, each
 * command override called), and throws one ValidationErrors listing every problem. Registers
 * nothing: it runs before the component's own registration.
 */
function prepareClusterUpgrade(name: string, args: ClusterUpgradeArgs): PreparedClusterUpgrade {
  const where = `ClusterUpgrade ${name}`;
  const problems = new ProblemCollector();
  checkRollReportSettings(where, args.report, problems);
  (args.nodes ?? []).forEach((n, i) => {
    if (!n.connection || n.connection.host === undefined || n.connection.host === "") {
      problems.add(
        new ValidationError(
          where,
          `nodes[${i}].connection.host`,
          n.connection?.host,
          `no SSH host for node ${n.name}`,
          "give connection: { host, port, user, privateKey }",
        ),
      );
    }
  });
  if (args.kubeconfig === undefined || args.kubeconfig === "") {
    problems.add(
      new ValidationError(
        where,
        "kubeconfig",
        args.kubeconfig,
        "no kubeconfig: the drain, the readiness wait and the uncordon talk to the API server",
        'pass the admin kubeconfig YAML, e.g. config.requireSecret("kubeconfig")',
      ),
    );
  }
  const plan: UpgradePlan | undefined = problems.collect(() =>
    planUpgrade(
      {
        nodes: (args.nodes ?? []).map((n) => ({
          name: n.name,
          role: n.role,
          version: n.version,
        })),
        targetVersion: args.targetVersion,
        currentVersion: args.currentVersion,
        maxUnavailable: args.maxUnavailable,
        failurePolicy: args.failurePolicy,
        etcdSnapshot: args.etcdSnapshot !== false && args.etcdSnapshot?.enabled !== false,
      },
      where,
    ),
  );
  const snapshotSettings = args.etcdSnapshot === false ? undefined : (args.etcdSnapshot ?? {});
  const { enabled: _e, command: _c, ...backupOptions } = snapshotSettings ?? {};
  const snapshotScript =
    snapshotSettings && snapshotSettings.enabled !== false && snapshotSettings.command === undefined
      ? problems.collect(() => renderEtcdBackupScript(backupOptions, `${where} etcdSnapshot`))
      : undefined;
  // The CronJob's chart is built (and so validated) here, with the plan's problems, and
  // deployed as it is by the Cdk8sManifests child.
  let cronJobChart: Chart | undefined;
  if (args.ensureEtcdBackupCronJob !== undefined) {
    const chart = new Chart(new App(), `${name}-etcd-backup`);
    const props: EtcdBackupProps = { ...backupOptions, ...args.ensureEtcdBackupCronJob };
    if (problems.collect(() => new EtcdBackup(chart, "etcd-backup", props))) cronJobChart = chart;
  }

  // Every node's settings, as its NodeUpgrade will use them. Settings of the whole roll are
  // reported once, as the component's; a node's own script setting names the node.
  const commands = new Map<string, NodeCommands>();
  const preflightInputs: [string, unknown][] = [
    ["preflight", args.preflight],
    ...(args.nodes ?? []).map((n, i): [string, unknown] => [`nodes[${i}].preflight`, n.preflight]),
  ];
  for (const [field, v] of preflightInputs)
    if (v !== undefined && v !== false && (typeof v !== "object" || v === null))
      problems.add(
        new ValidationError(
          where,
          field,
          v,
          "not preflight settings",
          "give false to skip the preflight, or an object such as { checks: { swap: false }, minFreeDiskMiB: 1024 }",
        ),
      );
  const target = plan ? parseKubeVersion(plan.targetVersion, where, "targetVersion") : undefined;
  if (plan && target) {
    checkNodeUpgradeSettings(
      where,
      args.nodes[0]!.name,
      {
        runId: `${args.runId ?? name}@${target.text}`,
        drain: args.drain,
        readyTimeoutSeconds: args.readyTimeoutSeconds,
      },
      problems,
    );
    const byName = new Map(args.nodes.map((n) => [n.name, n]));
    for (const step of plan.steps) {
      if (step.action !== "kubeadm-upgrade-apply" && step.action !== "kubeadm-upgrade-node")
        continue;
      const node = byName.get(step.node!)!;
      const nodeWhere = `${where} / node ${node.name}`;
      const mode = step.action === "kubeadm-upgrade-apply" ? "apply" : "node";
      const fn = args.commandOverride;
      const context: NodeCommandContext = {
        nodeName: node.name,
        role: node.role,
        mode,
        fromVersion: step.from!,
        targetVersion: target.text,
      };
      const override = typeof fn === "function" ? problems.collect(() => fn(context)) : fn;
      if (typeof fn === "function" && override === undefined) continue; // it threw (collected)
      // the node's own settings name the node in an error, the roll's name the component
      const ownScript = node.script as Record<string, unknown> | undefined;
      const ownPreflight = (node.preflight || undefined) as Record<string, unknown> | undefined;
      const at = (option: string) =>
        ownScript?.[option] !== undefined || ownPreflight?.[option] !== undefined
          ? nodeWhere
          : where;
      const script = { ...args.script, ...node.script };
      if (override === undefined)
        problems.collect(() => renderUpgradeScript(at, script, target.text, mode));
      const merged = mergePreflight(args.preflight, node.preflight);
      const pf = args.preflightOverride;
      let preflight: NodePreflightSettings | false | undefined = merged;
      if (pf !== undefined && merged !== false) {
        const cmd = typeof pf === "function" ? problems.collect(() => pf(context)) : pf;
        if (cmd === undefined) continue; // it threw (collected)
        preflight = { ...merged, command: cmd };
      }
      if (preflightPlan(preflight, override !== undefined) === "rendered")
        problems.collect(() =>
          renderPreflightScript(at, node.name, script, preflight || undefined, target.text),
        );
      commands.set(step.id, { mode, override, preflight });
    }
  }
  problems.throwIfAny();
  return { plan: plan!, target: target!, snapshotSettings, snapshotScript, cronJobChart, commands };
}
