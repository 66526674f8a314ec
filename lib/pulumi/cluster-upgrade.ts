/**
 * `ClusterUpgrade` (kube-upkeep:index:ClusterUpgrade): a rolling kubeadm upgrade of a whole
 * cluster as Pulumi dependencies:
 *
 *   etcd snapshot (remote.Command on the first control-plane node)
 *     -> control-plane node 1 (kubeadm upgrade apply) -> control-plane node 2 -> ... (one at a time)
 *     -> workers as k parallel chains (worker i starts after worker i-k is uncordoned)
 *
 * Each node is a `NodeUpgrade` (preflight -> drain -> upgrade command -> wait Ready at target ->
 * uncordon), followed by its health gate when `healthChecks` are given (NodeHealthGate, and a
 * remote.Command per check of kind `command`): the next node of the chain waits for the gate. Every node's preflight runs first, all of them before the etcd snapshot and the first
 * drain: a node that fails its preflight stops the roll before anything is cordoned, whichever
 * node it is (each drain waits for every preflight, not only its own).
 * The version skew policy, the plan and every node's settings (its rendered script, its command
 * override, the drain options) are checked when the component is constructed, i.e. in
 * `pulumi preview`, and before anything is registered (the component itself included), so that
 * even `pulumi up --skip-preview` starts nothing when any node's input is bad; problems throw
 * one ValidationErrors naming the component, the node and the field of each. The plan is printed (pulumi.log.info) and exposed as the outputs `plan` / `planText`.
 *
 * The live plan (`livePlan`, default "auto"; live-plan.ts): when the program runs (preview and
 * up) the cluster is read through the kubeconfig (nodes, kubeadm's ClusterConfiguration, the
 * component images), the plan is made from what it runs (CURRENT from the cluster, nodes at the
 * target up to date and not drained, `kubeadm upgrade apply` only while the control plane is below
 * the target) and the declared roll is checked against it (a stale declared version, a listed
 * node the cluster lacks, a cluster node not listed: errors naming the node). Without cluster
 * access it plans from the declared versions and says so. The node resources are registered once
 * the plan is made (`ready`); problems found only then reject `ready` and the outputs, before any
 * node's resource is registered. The etcd snapshot is registered at once (its inputs wait for
 * the plan, so it runs only after a plan without problems).
 *
 * With `report: { path }`, each `pulumi up` writes a roll report (JSON and one HTML page with a
 * timeline) under `path`, built from the steps' own records; see roll-report.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { App, Chart } from "cdk8s";
import { ProblemCollector, ValidationError, ValidationErrors } from "../core/errors";
import {
  formatPlan,
  formatPlanWithVerification,
  planUpgrade,
  type FailurePolicy,
  type NodeRole,
  type UpgradePlan,
  type UpgradePlanInput,
} from "../core/plan";
import {
  healthCheckName,
  validateHealthChecks,
  type ApiHealthCheck,
  type CommandCheck,
  type HealthCheck,
} from "../core/health/checks";
import { renderHealthCommand } from "./health-command";
import { LIVE_PLAN_SETTINGS, makePlan, type LivePlanSetting } from "./live-plan";
import { NodeHealthGate } from "./node-health-gate";
import { renderEtcdBackupScript, type EtcdBackupScriptOptions } from "../core/scripts/etcd-backup";
import { parseKubeVersion, tryParseKubeVersion, type KubeVersion } from "../core/version";
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
  /** More health checks after this node (run with the ClusterUpgrade's `healthChecks`). */
  readonly healthChecks?: readonly HealthCheck[];
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
   * Plan from the cluster as it is (see the file comment): "auto" reads it and falls back to the
   * declared versions when it cannot be read (saying so in the plan), "required" fails instead,
   * `false` never reads it. With the live plan, `currentVersion` and `nodes[].version` are
   * optional: when given they must match the cluster.
   * @default "auto"
   */
  readonly livePlan?: LivePlanSetting;
  /**
   * Cluster nodes that are not in `nodes` are left alone (shown in the plan, checked against the
   * skew policy at the versions they keep) instead of failing the plan.
   * @default false
   */
  readonly allowUnlistedNodes?: boolean;
  /**
   * Checks after each node's uncordon that must pass before the next node of its chain starts
   * (lib/core/health: pods Ready, a workload rolled out, an HTTP(S) status, a Prometheus query with
   * no series, a command over SSH), each with `timeoutSeconds` (300) and `intervalSeconds` (5). A
   * failing check stops the roll; its error shows what each failed check saw. Nodes add their own
   * (`nodes[].healthChecks`).
   * @default - none
   */
  readonly healthChecks?: readonly HealthCheck[];
  /**
   * The field guide's upgrade verification, as health gates: after each control-plane node its
   * kube-apiserver, kube-controller-manager and scheduler mirror pods run the target, etcd's is
   * Ready and that node's apiserver `/readyz?verbose` is all ok (a `control-plane` check, before
   * the next node starts); after the last node every listed node is Ready at the target,
   * kube-proxy is rolled out at it, CoreDNS is rolled out and the apiserver reports the target (a
   * `cluster-version` check, the `<name>-verify` gate). Results: the `verification` output. Needs
   * no more RBAC than the drain (pods, nodes list; daemonsets, deployments get; /readyz and
   * /version are public). `false` for none (a cluster without kubeadm's static pods).
   * @default true
   */
  readonly verify?: boolean;
  /**
   * Show the roll in the cluster: Kubernetes Events on each node for each step and the
   * kube-upkeep.io/upgrade annotation the live plan resumes from (lib/core/progress); `false` for
   * neither, or `{ events: false }` / `{ annotation: false }`. Needs `events create` and `nodes
   * patch` (docs/rbac.md); a failed write is logged, never fails the roll.
   * @default true
   */
  readonly progress?: boolean | { readonly events?: boolean; readonly annotation?: boolean };
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
  /** The plan, as data (steps, chains, versions, where they come from). */
  public readonly plan: pulumi.Output<UpgradePlan>;
  /** The plan as the table printed in preview. */
  public readonly planText: pulumi.Output<string>;
  /**
   * The pre-upgrade snapshot command (undefined when disabled, or with `livePlan: false` and
   * nothing to do). Registered at once; it runs after the plan is made (and its preflights).
   */
  public readonly snapshot?: command.remote.Command;
  /**
   * The per-node upgrades, by node name (nodes up to date have none). Filled in once the plan is
   * made: use it after `ready`.
   */
  public readonly nodeUpgrades: Readonly<Record<string, NodeUpgrade>>;
  /** The health gates, by node name (after `ready`). */
  public readonly healthGates: Readonly<Record<string, NodeHealthGate>>;
  /** The EtcdBackup CronJob(s), when `ensureEtcdBackupCronJob` is set. */
  public readonly etcdBackupCronJob?: Cdk8sManifests;
  /** Kubelet version each upgraded node reported at the end. */
  public readonly kubeletVersions: pulumi.Output<Record<string, string>>;
  /**
   * The verification's results (`verify`): per control-plane node what its gate saw, and under
   * "cluster" what the check after the last node saw.
   */
  public readonly verification: pulumi.Output<Record<string, string[]>>;
  /** The gate after the last node (`verify`), once `ready`; undefined when nothing is upgraded. */
  public verifyGate?: NodeHealthGate;
  /** This run's report page (report.html), when `report` is set; undefined in a preview. */
  public readonly reportFile?: string;
  /**
   * Resolves when the plan is made and every node's resources are registered; rejects with the
   * ValidationErrors of a plan that cannot be made (then no node resource is registered).
   */
  public readonly ready: Promise<void>;

  constructor(name: string, args: ClusterUpgradeArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything that can be checked without the cluster is, before anything (this component
    // included) is registered: with `pulumi up --skip-preview` a registered drain starts at once.
    const where = `ClusterUpgrade ${name}`;
    const prepared = prepareClusterUpgrade(name, args);
    const { target, snapshotSettings, snapshotScript, cronJobChart, setting } = prepared;
    super("kube-upkeep:index:ClusterUpgrade", name, {}, opts);
    const runId = `${args.runId ?? name}@${target.text}`;

    // The plan: from the cluster (preview and up), or the declared one.
    const planned: Promise<{ plan: UpgradePlan; commands: ReadonlyMap<string, NodeCommands> }> =
      (async () => {
        const { plan } =
          setting === false && prepared.declaredPlan
            ? { plan: prepared.declaredPlan }
            : await makePlan({
                where,
                setting,
                kubeconfig: args.kubeconfig,
                declared: prepared.declaredInput,
                runId,
                allowUnlistedNodes: args.allowUnlistedNodes,
              });
        const problems = new ProblemCollector();
        const commands = prepareNodeCommands(where, args, plan, target, problems);
        problems.throwIfAny();
        return { plan, commands };
      })();
    const planOnly = planned.then((p) => p.plan);
    // A plan that cannot be made fails the program once, with its message on this component
    // (pulumi.ResourceError, the SDK's way for async work: it reports it and exits non-zero). Every
    // promise the SDK waits for (the outputs, the snapshot's inputs) settles without rejecting, so
    // nothing else reports it again; `ready` rejects with the ValidationErrors.
    const failure = planOnly.then(
      (plan) => {
        const text = formatPlanWithVerification(plan, args.verify, name);
        pulumi.log.info(text, this);
        if (plan.source?.kind === "declared" && setting !== false)
          pulumi.log.warn(
            `the cluster was not read (${plan.source.reason}): the plan is made from the declared versions`,
            this,
          );
        for (const w of plan.warnings) pulumi.log.warn(`[${w.rule}] ${w.message}. ${w.fix}`, this);
        for (const n of plan.notes ?? []) pulumi.log.warn(n, this);
        return undefined;
      },
      (e: unknown) => {
        const error = new ClusterUpgradePlanError(e, this);
        if (process.listenerCount("unhandledRejection") > 0) void Promise.reject(error);
        else pulumi.log.error(error.message, this); // no language host (tests under mocks)
        return error;
      },
    );
    const settled = <T>(p: Promise<T>): Promise<T> => p.catch(() => undefined as unknown as T); // the program fails with `failure`
    this.plan = pulumi.output(settled(planOnly));
    // no closure here: a dynamic provider's serialization can reach this promise (docs-program.test)
    this.planText = pulumi.output(settled(planOnly.then(formatPlan)));

    const byName = new Map(args.nodes.map((n) => [n.name, n]));
    const report = startRollReport(name, args.report, planOnly, runId, this);
    this.reportFile = report?.html;
    const kubeconfig = pulumi.secret(args.kubeconfig);
    const nodeUpgrades: Record<string, NodeUpgrade> = {};
    const healthGates: Record<string, NodeHealthGate> = {};
    this.nodeUpgrades = nodeUpgrades;
    this.healthGates = healthGates;
    // Every node's preflight, once all are constructed: the snapshot and every drain wait for all of
    // them, so a failing preflight stops the roll before anything is cordoned (the preflights
    // themselves wait for nothing and run concurrently, up to `pulumi up --parallel`).
    let allPreflightsKnown!: (preflights: pulumi.Resource[]) => void;
    const allPreflights = new Promise<pulumi.Resource[]>((resolve) => {
      allPreflightsKnown = resolve;
    });

    // The snapshot is registered now (its existence does not depend on the cluster: once per
    // target, on the first control-plane node), its command once the plan is made: a plan that
    // cannot be made leaves it unresolved, so it never runs.
    const cp1 = args.nodes.find((n) => n.role === "control-plane");
    const snapshotWanted =
      snapshotSettings !== undefined &&
      snapshotSettings.enabled !== false &&
      cp1 !== undefined &&
      (setting !== false || prepared.declaredPlan!.steps.some((s) => s.action === "etcd-snapshot"));
    let snapshot: command.remote.Command | undefined;
    if (snapshotWanted) {
      // without a plan (the program is failing) a command that changes nothing and fails
      const afterPlan = (v: pulumi.Input<string>) =>
        pulumi.output(
          failure.then((failed) =>
            failed === undefined
              ? pulumi.output(v)
              : "echo 'kube-upkeep: no etcd snapshot: the roll has no plan (see the error of the ClusterUpgrade)' >&2; exit 1",
          ),
        );
      snapshot = new command.remote.Command(
        `${name}-etcd-snapshot`,
        {
          connection: secretConnection(cp1.connection),
          create: afterPlan(
            snapshotSettings?.command ??
              'if [ "$(id -u)" -eq 0 ]; then bash -s; else sudo -n bash -s; fi',
          ),
          stdin:
            snapshotSettings?.command === undefined ? afterPlan(snapshotScript ?? "") : undefined,
          triggers: [target.text],
          logging: "stdoutAndStderr",
        },
        { parent: this, dependsOn: allPreflights },
      );
      report?.watch(snapshot, "snapshot");
    }
    this.snapshot = snapshot;

    const build = async () => {
      const { plan, commands } = await planned;
      await report?.started;
      const done = new Map<string, pulumi.Resource[]>();
      for (const step of plan.steps) {
        if (step.action === "skip") continue;
        const after = step.dependsOn.flatMap((d) => done.get(d) ?? []);
        if (step.action === "etcd-snapshot") {
          done.set(step.id, snapshot ? [snapshot] : []);
          continue;
        }
        const node = byName.get(step.node!)!;
        const { mode, override, preflight, checks: userChecks } = commands.get(step.id)!;
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
            // The previous step's last resource (its uncordon, or its health gate) and every
            // node's preflight. Not the component's dependsOn: that would hold back this node's
            // preflight too.
            drainAfter: allPreflights.then((all) => [...after, ...all]),
            readyTimeoutSeconds: args.readyTimeoutSeconds,
            report: report?.target,
            fromVersion: step.from,
            progress: args.progress,
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
        let last: pulumi.Resource[] = [upgrade.uncordon];
        const verifyNode: readonly HealthCheck[] =
          args.verify !== false && node.role === "control-plane"
            ? [{ kind: "control-plane", node: node.name, version: target.text }]
            : [];
        const checks = [...verifyNode, ...userChecks];
        if (checks.length > 0) {
          // commands over SSH first, then the gate's own checks
          const commandChecks = checks.filter((c): c is CommandCheck => c.kind === "command");
          const apiChecks = checks.filter((c): c is ApiHealthCheck => c.kind !== "command");
          const cmds = commandChecks.map(
            (c, i) =>
              new command.remote.Command(
                `${name}-${node.name}-health-command-${i + 1}`,
                {
                  connection: secretConnection(byName.get(c.node ?? node.name)!.connection),
                  create: "sh -s",
                  stdin: renderHealthCommand(c),
                  triggers: [target.text],
                  logging: "stdoutAndStderr",
                },
                { parent: upgrade, dependsOn: [upgrade.uncordon] },
              ),
          );
          last = cmds.length > 0 ? cmds : last;
          if (apiChecks.length > 0) {
            const gate = new NodeHealthGate(
              `${name}-${node.name}-health`,
              {
                nodeName: node.name,
                kubeconfig,
                checks: apiChecks,
                trigger: target.text,
                report: report?.target,
                progress:
                  args.progress === false
                    ? undefined
                    : {
                        runId,
                        targetVersion: target.text,
                        mode,
                        fromVersion: step.from,
                        ...(typeof args.progress === "object" ? args.progress : {}),
                      },
              },
              { parent: upgrade, dependsOn: [upgrade.uncordon, ...cmds] },
            );
            healthGates[node.name] = gate;
            last = [gate];
          }
        }
        done.set(step.id, last);
      }
      const upgraded = plan.steps.filter((s) => s.node !== undefined && s.action !== "skip");
      if (args.verify !== false && upgraded.length > 0) {
        const gate = new NodeHealthGate(
          `${name}-verify`,
          {
            nodeName: "cluster",
            kubeconfig,
            checks: [
              {
                kind: "cluster-version",
                version: target.text,
                nodes: args.nodes.map((n) => n.name),
              },
            ],
            trigger: target.text,
            report: report?.target,
          },
          { parent: this, dependsOn: [...done.values()].flat() },
        );
        this.verifyGate = gate;
      }
      allPreflightsKnown(
        Object.values(nodeUpgrades).flatMap((u) => (u.preflight ? [u.preflight] : [])),
      );
    };
    // rejects with the error the program fails with: the SDK reports an error object once, so a
    // program's own chain on `ready` does not report it again
    this.ready = build().catch(async (e: unknown) => {
      throw (await failure) ?? e;
    });
    // without a plan: nothing waits for preflights that will never be (the snapshot fails at once)
    this.ready.catch(() => allPreflightsKnown([]));

    if (cronJobChart)
      this.etcdBackupCronJob = new Cdk8sManifests(
        `${name}-etcd-backup`,
        { app: cronJobChart, kubeconfig },
        { parent: this },
      );
    this.kubeletVersions = pulumi.output(
      settled(this.ready).then(() =>
        pulumi
          .all(
            Object.entries(nodeUpgrades).map(([n, u]) =>
              u.kubeletVersion.apply((v) => [n, v] as const),
            ),
          )
          .apply((pairs) => Object.fromEntries(pairs)),
      ),
    );
    this.verification = pulumi.output(
      settled(this.ready).then(() => {
        const gates: [string, NodeHealthGate][] = Object.entries(healthGates).filter(
          ([n]) => byName.get(n)?.role === "control-plane" && args.verify !== false,
        );
        if (this.verifyGate) gates.push(["cluster", this.verifyGate]);
        return pulumi
          .all(gates.map(([n, g]) => g.results.apply((r) => [n, r] as const)))
          .apply((pairs) => Object.fromEntries(pairs));
      }),
    );
    this.registerOutputs({
      plan: this.plan,
      planText: this.planText,
      kubeletVersions: this.kubeletVersions,
      verification: this.verification,
    });
  }
}

/**
 * The error of a roll whose plan cannot be made once the cluster is read (a stale declared
 * version, a missing node, the skew policy): a pulumi.ResourceError on the component (the
 * program fails with its message, no stack), with each problem in `errors`.
 */
export class ClusterUpgradePlanError extends pulumi.ResourceError {
  public readonly errors: readonly ValidationError[];

  constructor(cause: unknown, resource: pulumi.Resource) {
    super(cause instanceof Error ? cause.message : String(cause), resource, true);
    this.name = "ClusterUpgradePlanError";
    this.errors = cause instanceof ValidationErrors ? cause.errors : [];
    this.cause = cause;
  }
}

/** A node's commands as prepareClusterUpgrade resolved them. */
interface NodeCommands {
  readonly mode: "apply" | "node";
  readonly override?: pulumi.Input<string>;
  readonly preflight?: NodePreflightSettings | false;
  /** The health checks after the node: the roll's, then the node's own. */
  readonly checks: readonly HealthCheck[];
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
  readonly target: KubeVersion;
  readonly setting: LivePlanSetting;
  /** The plan's input with the versions as declared. */
  readonly declaredInput: UpgradePlanInput;
  /** The plan from the declared versions, when they make one (always with `livePlan: false`). */
  readonly declaredPlan?: UpgradePlan;
  readonly snapshotSettings?: EtcdSnapshotSettings;
  readonly snapshotScript?: string;
  readonly cronJobChart?: Chart;
}

/**
 * Validates the whole roll before anything is registered, and throws one ValidationErrors listing
 * every problem: the settings of the roll and of every node, and, when the declared versions make
 * a plan, every node's commands for it (each node's script is rendered, each command override
 * called). The declared plan's own problems (versions, skew) are thrown here with `livePlan:
 * false`; with the live plan the cluster decides (a stale declared version is reported as that,
 * after the read).
 */
function prepareClusterUpgrade(name: string, args: ClusterUpgradeArgs): PreparedClusterUpgrade {
  const where = `ClusterUpgrade ${name}`;
  const problems = new ProblemCollector();
  checkRollReportSettings(where, args.report, problems);
  const setting = args.livePlan ?? "auto";
  if (!LIVE_PLAN_SETTINGS.includes(setting))
    problems.add(
      new ValidationError(
        where,
        "livePlan",
        setting,
        "unknown setting",
        'use "auto" (read the cluster, else plan from the declared versions), "required" or false',
      ),
    );
  if (args.allowUnlistedNodes !== undefined && typeof args.allowUnlistedNodes !== "boolean")
    problems.add(
      new ValidationError(
        where,
        "allowUnlistedNodes",
        args.allowUnlistedNodes,
        "must be true or false",
        "leave it unset to require every cluster node in nodes",
      ),
    );
  const progress = args.progress;
  if (
    progress !== undefined &&
    typeof progress !== "boolean" &&
    (typeof progress !== "object" ||
      progress === null ||
      Object.entries(progress).some(
        ([k, v]) => !["events", "annotation"].includes(k) || typeof v !== "boolean",
      ))
  )
    problems.add(
      new ValidationError(
        where,
        "progress",
        progress,
        "must be true, false or { events?: boolean, annotation?: boolean }",
        "leave it unset for Events and the annotation",
      ),
    );
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
  const nodeNames = (args.nodes ?? []).map((n) => n.name);
  problems.collect(() => validateHealthChecks(where, "healthChecks", args.healthChecks, nodeNames));
  (args.nodes ?? []).forEach((n, i) =>
    problems.collect(() =>
      validateHealthChecks(where, `nodes[${i}].healthChecks`, n.healthChecks, nodeNames),
    ),
  );
  const declaredInput: UpgradePlanInput = {
    nodes: (args.nodes ?? []).map((n) => ({ name: n.name, role: n.role, version: n.version })),
    targetVersion: args.targetVersion,
    currentVersion: args.currentVersion,
    maxUnavailable: args.maxUnavailable,
    failurePolicy: args.failurePolicy,
    etcdSnapshot: args.etcdSnapshot !== false && args.etcdSnapshot?.enabled !== false,
  };
  // The declared plan: required with livePlan false; with the live plan, made when the
  // declared versions allow it (to check every node's commands now), its problems left to the
  // plan made after the read.
  const declaredVersions =
    args.currentVersion !== undefined || (args.nodes ?? []).every((n) => n.version !== undefined);
  let declaredPlan: UpgradePlan | undefined;
  if (setting === false) declaredPlan = problems.collect(() => planUpgrade(declaredInput, where));
  else {
    // what the plan checks without versions is checked now (names, roles, maxUnavailable, ...)
    const withoutVersions = new ProblemCollector();
    try {
      declaredPlan = declaredVersions ? planUpgrade(declaredInput, where) : undefined;
    } catch (e) {
      if (!(e instanceof ValidationError || e instanceof ValidationErrors)) throw e;
      declaredPlan = undefined;
    }
    withoutVersions.collect(() =>
      planUpgrade(
        {
          ...declaredInput,
          currentVersion: undefined,
          nodes: declaredInput.nodes.map((n) => ({ ...n, version: args.targetVersion })),
        },
        where,
      ),
    );
    // (at the target, the skew rules find nothing: what is left is about the input itself)
    problems.add(...withoutVersions.errors);
    // a declared version is compared with the cluster's: it must be one
    const declared: [string, unknown][] = [
      ["currentVersion", args.currentVersion],
      ...(args.nodes ?? []).map((n, i): [string, unknown] => [`nodes[${i}].version`, n.version]),
    ];
    for (const [field, v] of declared)
      if (v !== undefined && !tryParseKubeVersion(v))
        problems.add(
          new ValidationError(
            where,
            field,
            v,
            "not an exact Kubernetes version",
            'write it as "v1.34.2", or leave it unset: the live plan reads the cluster',
          ),
        );
  }
  const target = problems.collect(() =>
    parseKubeVersion(args.targetVersion, where, "targetVersion"),
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
  if (target && (args.nodes ?? []).length > 0) {
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
    // every node's commands as the declared plan has them; the live plan's are checked again
    // once it is made (a node's mode may differ)
    if (declaredPlan) prepareNodeCommands(where, args, declaredPlan, target, problems);
  }
  problems.throwIfAny();
  return {
    target: target!,
    setting,
    declaredInput,
    declaredPlan,
    snapshotSettings,
    snapshotScript,
    cronJobChart,
  };
}

/**
 * Every node's settings for `plan`, as its NodeUpgrade will use them (the script rendered for its
 * mode, the command overrides called with its context, the preflight, its health checks); each
 * problem is collected. Settings of the whole roll are reported once, as the component's; a
 * node's own setting names the node.
 */
function prepareNodeCommands(
  where: string,
  args: ClusterUpgradeArgs,
  plan: UpgradePlan,
  target: KubeVersion,
  problems: ProblemCollector,
): Map<string, NodeCommands> {
  const commands = new Map<string, NodeCommands>();
  const byName = new Map(args.nodes.map((n) => [n.name, n]));
  for (const step of plan.steps) {
    if (step.action !== "kubeadm-upgrade-apply" && step.action !== "kubeadm-upgrade-node") continue;
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
      ownScript?.[option] !== undefined || ownPreflight?.[option] !== undefined ? nodeWhere : where;
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
    const checks = [...(args.healthChecks ?? []), ...(node.healthChecks ?? [])];
    // the roll's and the node's checks together: a name must not be in both
    const rollNames = new Set((args.healthChecks ?? []).map(healthCheckName));
    (node.healthChecks ?? []).forEach((c, j) => {
      const name = healthCheckName(c);
      if (rollNames.has(name))
        problems.add(
          new ValidationError(
            where,
            `nodes[${args.nodes.indexOf(node)}].healthChecks[${j}].name`,
            name,
            "the name of one of the roll's healthChecks (the node runs both)",
            "give the node's check its own name, or leave it out (the roll's runs after every node)",
          ),
        );
    });
    commands.set(step.id, { mode, override, preflight, checks });
  }
  return commands;
}
