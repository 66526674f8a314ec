/**
 * `NodeUpgrade` (kube-upkeep:index:NodeUpgrade): upgrade one kubeadm node as five ordered
 * children:
 *
 *   preflight (remote.Command) -> NodeDrain -> remote.Command (the rendered upgrade script over SSH)
 *     -> NodeReadyWait -> NodeUncordon
 *
 * - The preflight (lib/core/scripts/node-preflight.ts, over the same SSH connection) checks,
 *   before anything is cordoned, that the target packages are in the repository the upgrade will
 *   use, cgroup v2 for >= 1.35, free disk, swap and the container runtime; it changes nothing on
 *   the node, and the drain depends on it, so a failing check leaves the node in service. Its
 *   `triggers` are the upgrade's (a new target runs it again); it has no `update`: on any other
 *   change pulumi-resource-command runs `create` again, which is harmless for a command that only
 *   reads (a node already at the target passes at once). It is skipped with `preflight: false`,
 *   and by default with a `command` override (the rendered checks assume the rendered script's
 *   apt/dnf and kubeadm paths): give `preflight: {}` to run it anyway, or `preflight.command`.
 *   `drainAfter` lets ClusterUpgrade hold every drain until every node's preflight passed.
 * - The command's `triggers` hold the target version: a new target replaces it (behind a fresh
 *   drain, as NodeDrain is keyed by the target too); the same target does not rerun it (and the
 *   script itself skips work already done on the node).
 * - Any other change of the command's inputs (the connection, the rendered script, the override)
 *   is an update, and pulumi-resource-command re-runs `create` on an update when `update` is
 *   unset: the upgrade would run on a node that is back in service. So `update` is set to a
 *   command that only checks (the rendered script: `kubelet --version` reports the target, else
 *   it fails without touching the node; an override: nothing to check, it only says so). The
 *   upgrade itself runs only on create, right after the node's drain.
 * - Every input is validated before anything is registered (`prepareNodeUpgrade`): a bad value
 *   throws ValidationErrors naming the component and the field (`script.packageVersion`), never
 *   the renderer.
 * - The command can be replaced (`command`): users with other OS tooling, or simulated nodes.
 * - NodeReadyWait gates the uncordon on the node being Ready at the target kubelet version.
 * - The drain, the ready wait and the uncordon show the upgrade in the cluster (`progress`,
 *   lib/core/progress): Events on the node (Cordoned, Drained, UpgradeStarted, Upgraded,
 *   Uncordoned, Failed) and the kube-upkeep.io/upgrade annotation with the last step done, from
 *   which ClusterUpgrade's live plan resumes a node.
 * - If any step fails, the later ones do not run: the node stays cordoned (failure policy
 *   `leave-cordoned`), and the error names the node (the command's stderr, secrets redacted by
 *   the engine).
 *
 * Order vs the official worker procedure (kubeadm package -> `kubeadm upgrade node` -> drain ->
 * kubelet): kube-upkeep drains first, then runs the whole script; see
 * lib/core/scripts/node-upgrade.ts for why.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { DEFAULT_NODE_STEP_TIMEOUT_SECONDS } from "../core/defaults";
import { ProblemCollector, ValidationError, ValidationErrors } from "../core/errors";
import { shq, validateDnsName } from "../core/scripts/shell";
import {
  renderNodeUpgradeScript,
  type NodeUpgradeScriptOptions,
} from "../core/scripts/node-upgrade";
import {
  PREFLIGHT_CHECKS,
  renderNodePreflightScript,
  type NodePreflightOptions,
} from "../core/scripts/node-preflight";
import { parseKubeVersion, type KubeVersion } from "../core/version";
import { NodeDrain, type NodeDrainOptions } from "./node-drain";
import { NodeReadyWait } from "./node-ready-wait";
import { NodeUncordon } from "./node-uncordon";
import type { StepReportTarget } from "../core/report/recorder";
import type { NodeProgressTarget } from "../core/progress/reporter";

/**
 * How to reach a node over SSH (the fields of @pulumi/command's remote.Connection that
 * kube-upkeep passes on). `privateKey`, `password` and `privateKeyPassword` are always wrapped in
 * `pulumi.secret`, whether or not the caller did.
 */
export interface SshConnection {
  readonly host: pulumi.Input<string>;
  /** @default 22 */
  readonly port?: pulumi.Input<number>;
  /** @default "root" (@pulumi/command's default) */
  readonly user?: pulumi.Input<string>;
  /** The private key (PEM/OpenSSH text). Pass `config.requireSecret(...)`. */
  readonly privateKey?: pulumi.Input<string>;
  readonly privateKeyPassword?: pulumi.Input<string>;
  readonly password?: pulumi.Input<string>;
  /**
   * The expected host key ("ssh-ed25519 AAAA..."). Without it the host key is not verified:
   * set it in production.
   */
  readonly hostKey?: pulumi.Input<string>;
  /** SSH agent socket instead of a key. */
  readonly agentSocketPath?: pulumi.Input<string>;
  /** @default 15 (seconds, @pulumi/command) */
  readonly perDialTimeout?: pulumi.Input<number>;
  /** @default 10 (@pulumi/command) */
  readonly dialErrorLimit?: pulumi.Input<number>;
}

/** The connection as remote.Command takes it, with the credentials made secret. */
export function secretConnection(c: SshConnection): command.types.input.remote.ConnectionArgs {
  const secret = <T>(v: pulumi.Input<T> | undefined) =>
    v === undefined ? undefined : pulumi.secret(v);
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    privateKey: secret(c.privateKey),
    privateKeyPassword: secret(c.privateKeyPassword),
    password: secret(c.password),
    hostKey: c.hostKey,
    agentSocketPath: c.agentSocketPath,
    perDialTimeout: c.perDialTimeout,
    dialErrorLimit: c.dialErrorLimit,
  };
}

/**
 * Drain defaults for upgrades: DaemonSet pods (kube-proxy, the CNI, log agents) run on every node
 * and are not evicted by a drain anyway, so `ignoreDaemonSets` is on, as in the kubeadm upgrade
 * guide's `kubectl drain <node> --ignore-daemonsets`. Everything else is the drain engine's
 * default (kubectl's, but with a finite 600 s timeout); emptyDir data is only deleted when you set
 * `deleteEmptyDirData: true`.
 */
export const NODE_UPGRADE_DRAIN_DEFAULTS: NodeDrainOptions = { ignoreDaemonSets: true };

/** Script settings that are not per node. */
export type NodeUpgradeScriptSettings = Omit<
  NodeUpgradeScriptOptions,
  "targetVersion" | "mode" | "hostRoot"
>;

/**
 * The preflight of a node (see lib/core/scripts/node-preflight.ts): which checks run
 * (`checks: { swap: false }`), `minFreeDiskMiB` (default 2048), `kubeletConfigPath`. The package
 * settings (manager, version, repository, sudo) are the script's.
 */
export interface NodePreflightSettings extends NodePreflightOptions {
  /**
   * Replaces the rendered preflight: the command run over SSH instead. It must change nothing on
   * the node (it runs again when its inputs change); a non-zero exit stops the node's upgrade
   * before the drain.
   */
  readonly command?: pulumi.Input<string>;
}

export interface NodeUpgradeArgs {
  /** The Kubernetes node name. */
  readonly nodeName: string;
  /** The version to upgrade to, "v1.35.4". */
  readonly targetVersion: string;
  /** `apply` on the first control-plane node, `node` elsewhere. */
  readonly mode: "apply" | "node";
  /** kubeconfig YAML for the drain, the wait and the uncordon (made secret). */
  readonly kubeconfig: pulumi.Input<string>;
  /** SSH connection to the node. */
  readonly connection: SshConnection;
  /**
   * Names this maintenance run. The run id recorded on the node when it is cordoned is
   * "<runId>@<targetVersion>": a new target drains again (NodeDrain is keyed by run id), a re-run
   * with the same target takes over the cordon an interrupted run left, and the uncordon removes
   * only that cordon (never an admin's).
   * @default the resource name
   */
  readonly runId?: string;
  /**
   * Drain options (timeoutSeconds, deleteEmptyDirData, force, ...), over
   * {@link NODE_UPGRADE_DRAIN_DEFAULTS}.
   * @default { ignoreDaemonSets: true } (and the drain engine's defaults: timeout 600 s, eviction)
   */
  readonly drain?: NodeDrainOptions;
  /**
   * Settings of the rendered script (package manager, package version, package repository, sudo,
   * kubeadm flags).
   */
  readonly script?: NodeUpgradeScriptSettings;
  /**
   * The preflight before the drain, or `false` for none.
   * @default the rendered preflight with its defaults; none when `command` replaces the script
   */
  readonly preflight?: NodePreflightSettings | false;
  /**
   * More resources the drain waits for, besides the preflight (and, through it, `dependsOn`).
   * ClusterUpgrade passes the previous node's uncordon and every node's preflight.
   */
  readonly drainAfter?: readonly pulumi.Resource[] | Promise<readonly pulumi.Resource[]>;
  /**
   * Replaces the rendered script: the command run over SSH instead (it must leave the node
   * reporting the target kubelet version, which NodeReadyWait checks).
   */
  readonly command?: pulumi.Input<string>;
  /**
   * How long to wait for the node to be Ready at the target version after the command.
   * @default 600
   */
  readonly readyTimeoutSeconds?: number;
  /**
   * Record the drain, the ready wait and the uncordon in this roll report run (ClusterUpgrade's
   * `report` passes it; see lib/pulumi/roll-report.ts).
   */
  readonly report?: StepReportTarget;
  /**
   * The node's kubelet version before the upgrade, recorded in its kube-upkeep.io/upgrade
   * annotation (ClusterUpgrade passes the plan's).
   */
  readonly fromVersion?: string;
  /**
   * Show the upgrade in the cluster (lib/core/progress): Kubernetes Events on the node (Cordoned,
   * Drained, UpgradeStarted, Upgraded, Uncordoned, Failed; reportingComponent kube-upkeep) and the
   * kube-upkeep.io/upgrade annotation (run id, target, last completed step), or `false` for
   * neither. A failed write is logged and never fails the upgrade.
   * @default true (both)
   */
  readonly progress?: boolean | { readonly events?: boolean; readonly annotation?: boolean };
}

/** The options of the rendered script that are not per node, as keys (for error messages). */
const SCRIPT_FIELDS = new Set<string>([
  "packageManager",
  "packageVersion",
  "updatePackageIndex",
  "upgradeKubectl",
  "sudo",
  "kubeadmFlags",
  "packageRepository",
  "hostRoot",
]);

/** The preflight's own options, as keys (for error messages). */
const PREFLIGHT_FIELDS = new Set<string>(["checks", "minFreeDiskMiB", "kubeletConfigPath"]);

/** A renderer's ValidationError re-stated as `where`'s, for the field as the user wrote it. */
function restate(
  where: string | ((option: string) => string),
  e: ValidationError,
): ValidationError {
  const option = e.field.replace(/\[\d+\]$/, "").replace(/\..*$/, "");
  const field = SCRIPT_FIELDS.has(option)
    ? `script.${e.field}`
    : PREFLIGHT_FIELDS.has(option)
      ? `preflight.${e.field}`
      : e.field;
  const at = typeof where === "string" ? where : where(option);
  return new ValidationError(at, field, e.value, e.problem, e.fix);
}

/**
 * Renders a node's upgrade script. A bad option throws a ValidationError of `where` (the component
 * and node the user wrote) for the field as the user wrote it (`script.packageVersion`,
 * `script.kubeadmFlags[1]`), not of the renderer. `where` may depend on the option (a function
 * of its name), e.g. to name the node only for the node's own settings.
 */
export function renderUpgradeScript(
  where: string | ((option: string) => string),
  script: NodeUpgradeScriptSettings | undefined,
  targetVersion: string,
  mode: "apply" | "node",
): string {
  try {
    return renderNodeUpgradeScript({ ...script, targetVersion, mode });
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    throw restate(where, e);
  }
}

/**
 * Renders a node's preflight from the script settings (package manager, version, repository,
 * sudo) and the preflight settings; errors as {@link renderUpgradeScript}'s (`preflight.checks.swap`,
 * `script.packageRepository`).
 */
export function renderPreflightScript(
  where: string | ((option: string) => string),
  nodeName: string,
  script: NodeUpgradeScriptSettings | undefined,
  preflight: NodePreflightOptions | undefined,
  targetVersion: string,
): string {
  const { checks, minFreeDiskMiB, kubeletConfigPath } = preflight ?? {};
  try {
    return renderNodePreflightScript({
      ...script,
      checks,
      minFreeDiskMiB,
      kubeletConfigPath,
      nodeName,
      targetVersion,
    });
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    throw restate(where, e);
  }
}

/**
 * Whether a node runs a preflight, and which: `false` (none), a command, or the rendered one.
 * Default: the rendered preflight, except with an upgrade `command` override (whose node may not
 * have the rendered checks' apt/dnf and kubeadm paths) unless `preflight` is given.
 */
export function preflightPlan(
  preflight: NodePreflightSettings | false | undefined,
  overridden: boolean,
): "none" | "command" | "rendered" {
  if (preflight === false) return "none";
  if (preflight?.command !== undefined) return "command";
  if (preflight === undefined && overridden) return "none";
  return "rendered";
}

/** The preflight checks' names, for docs and callers. */
export const NODE_PREFLIGHT_CHECKS = PREFLIGHT_CHECKS;

/** The settings of a node upgrade that do not depend on the node (all nodes of a roll share them). */
export interface NodeUpgradeSettings {
  /** The run id as recorded on the node ("<runId>@<target>"). */
  readonly runId: string;
  readonly drain?: NodeDrainOptions;
  readonly readyTimeoutSeconds?: number;
}

/**
 * Checks the drain options, the run id and the ready timeout the way NodeDrain's provider and
 * NodeReadyWait will, and collects each problem as `<where>: invalid drain.<option> ...`. (The
 * node name is checked by the callers, with the field they know it by.)
 */
export function checkNodeUpgradeSettings(
  where: string,
  nodeName: string,
  s: NodeUpgradeSettings,
  problems: ProblemCollector,
): void {
  // The drain engine's module loads @kubernetes/client-node (ESM only): required here, not at the
  // top, so that importing kube-upkeep/pulumi does not load it. Where it cannot be loaded, NodeDrain's
  // provider check still rejects bad options (but only when that node's drain is registered).
  let validateDrainOptions: typeof import("../core/drain/drain").validateDrainOptions;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    validateDrainOptions = (require("../core/drain/drain") as typeof import("../core/drain/drain"))
      .validateDrainOptions;
  } catch {
    validateDrainOptions = () => undefined;
  }
  try {
    validateDrainOptions(where, nodeName, {
      ...NODE_UPGRADE_DRAIN_DEFAULTS,
      ...s.drain,
      runId: s.runId,
    });
  } catch (e) {
    if (!(e instanceof ValidationError || e instanceof ValidationErrors)) throw e;
    for (const err of e instanceof ValidationErrors ? e.errors : [e]) {
      if (err.field === "nodeName") continue; // the callers check it, by the field they know
      const field = err.field === "runId" ? "runId" : `drain.${err.field}`;
      problems.add(new ValidationError(where, field, err.value, err.problem, err.fix));
    }
  }
  const t = s.readyTimeoutSeconds;
  if (t !== undefined && (typeof t !== "number" || !Number.isFinite(t) || t <= 0)) {
    problems.add(
      new ValidationError(
        where,
        "readyTimeoutSeconds",
        t,
        "must be a positive number of seconds",
        `leave it unset for ${DEFAULT_NODE_STEP_TIMEOUT_SECONDS}, or give e.g. 900`,
      ),
    );
  }
}

/** A node's SSH connection has a host (NodeUpgrade and NodeRollback). */
export function checkConnection(
  where: string,
  nodeName: string,
  connection: SshConnection | undefined,
  problems: ProblemCollector,
): void {
  if (!connection || connection.host === undefined || connection.host === "")
    problems.add(
      new ValidationError(
        where,
        "connection.host",
        connection?.host,
        "no SSH host for the node",
        `give connection.host for node ${nodeName}`,
      ),
    );
}

/** What `prepareNodeUpgrade` resolved: the values the children are built from. */
export interface PreparedNodeUpgrade {
  readonly target: KubeVersion;
  /** The rendered upgrade script (undefined with a `command` override). */
  readonly rendered?: string;
  /** The rendered preflight (undefined: none, or `preflight.command`). */
  readonly preflight?: string;
  /** "<runId>@<target>". */
  readonly runId: string;
}

/**
 * Validates everything a NodeUpgrade passes to its children, before any of them is registered,
 * collecting every problem into `problems` (each names `where` and the field). Returns the
 * resolved values, or undefined when there was a problem.
 */
export function prepareNodeUpgrade(
  name: string,
  args: NodeUpgradeArgs,
  problems: ProblemCollector,
  where = `NodeUpgrade ${name}`,
): PreparedNodeUpgrade | undefined {
  const before = problems.errors.length;
  problems.collect(() => validateDnsName(where, "nodeName", args.nodeName));
  const target = problems.collect(() =>
    parseKubeVersion(args.targetVersion, where, "targetVersion"),
  );
  if (args.mode !== "apply" && args.mode !== "node") {
    problems.add(
      new ValidationError(where, "mode", args.mode, "unknown mode", 'use "apply" or "node"'),
    );
  }
  checkConnection(where, args.nodeName, args.connection, problems);
  const runId = `${args.runId ?? name}@${target?.text ?? args.targetVersion}`;
  checkNodeUpgradeSettings(where, args.nodeName, { ...args, runId }, problems);
  const rendered =
    args.command === undefined && target && (args.mode === "apply" || args.mode === "node")
      ? problems.collect(() => renderUpgradeScript(where, args.script, target.text, args.mode))
      : undefined;
  if (
    args.preflight !== undefined &&
    args.preflight !== false &&
    (typeof args.preflight !== "object" || args.preflight === null)
  ) {
    problems.add(
      new ValidationError(
        where,
        "preflight",
        args.preflight,
        "not preflight settings",
        "give false to skip the preflight, or an object such as { checks: { swap: false }, minFreeDiskMiB: 1024 }",
      ),
    );
  }
  const preflight =
    target && preflightPlan(args.preflight, args.command !== undefined) === "rendered"
      ? problems.collect(() =>
          renderPreflightScript(
            where,
            args.nodeName,
            args.script,
            args.preflight || undefined,
            target.text,
          ),
        )
      : undefined;
  if (problems.errors.length > before || !target) return undefined;
  return { target, rendered, preflight, runId };
}

/**
 * The command `remote.Command` runs on an update (any input change other than the triggers):
 * it only checks, and never upgrades. pulumi-resource-command re-runs `create` on an update when
 * `update` is unset, and an update happens on a node that was drained for its create, upgraded
 * and put back in service: the connection, the rendered script or the override changed. It gets
 * the new stdin (the upgrade script), which it reads to the end and ignores.
 *
 * - rendered script: succeeds when `kubelet --version` on the host reports the target; fails
 *   otherwise (the connection may now reach another host, or the node was changed), naming the
 *   node and what it found, without touching it;
 * - command override: there is nothing it could check; it only says that nothing was run.
 */
export function updateCheckCommand(nodeName: string, target: string, rendered: boolean): string {
  const say = (m: string) => `echo ${shq(`kube-upkeep: node ${nodeName}: ${m}`)}`;
  const notRerun =
    "the upgrade runs only when the command is created, right after the node's drain (a new target version rolls again)";
  const script = rendered
    ? [
        "cat >/dev/null 2>&1 || true",
        "v=$(kubelet --version 2>/dev/null || true)",
        'v="${v##* }"',
        `if [ "$v" = ${shq(target)} ]; then`,
        `  ${say(`kubelet at ${target}; the upgrade settings changed after the upgrade ran: nothing to do (${notRerun})`)}`,
        "  exit 0",
        "fi",
        `${say(`the upgrade settings (connection, script) changed after the upgrade command ran, and the host reports kubelet`)} "\${v:-(none)}" ${shq(`instead of ${target}. Not upgrading a node that was not drained for it. Fix: check that the connection reaches node ${nodeName}; to upgrade it again, drain it and replace its upgrade command (pulumi up --replace <urn>)`)} >&2`,
        "exit 1",
      ].join("\n")
    : [
        "cat >/dev/null 2>&1 || true",
        say(
          `the upgrade command or its connection changed after it ran for ${target}: nothing is run (${notRerun})`,
        ),
      ].join("\n");
  return `sh -c ${shq(script)}`;
}

export class NodeUpgrade extends pulumi.ComponentResource {
  public readonly nodeName: string;
  public readonly targetVersion: string;
  public readonly mode: "apply" | "node";
  /** The run id recorded on the node while it is cordoned ("<runId>@<targetVersion>"). */
  public readonly runId: string;
  /** The script run over SSH (the rendered one, or the override). */
  public readonly script: pulumi.Output<string>;
  /** The preflight before the drain (undefined when there is none). */
  public readonly preflight?: command.remote.Command;
  public readonly drain: NodeDrain;
  public readonly upgrade: command.remote.Command;
  public readonly ready: NodeReadyWait;
  public readonly uncordon: NodeUncordon;
  /** The kubelet version the node reported at the end. */
  public readonly kubeletVersion: pulumi.Output<string>;
  /** stdout of the upgrade command. */
  public readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: NodeUpgradeArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything is validated before anything (this component included) is registered.
    const problems = new ProblemCollector();
    const prepared = prepareNodeUpgrade(name, args, problems);
    problems.throwIfAny();
    const { target, rendered, preflight: preflightScript, runId } = prepared!;
    super("kube-upkeep:index:NodeUpgrade", name, {}, opts);
    this.nodeName = args.nodeName;
    this.targetVersion = target.text;
    this.mode = args.mode;

    this.script = pulumi.output(args.command ?? rendered!);
    const kubeconfig = pulumi.secret(args.kubeconfig);
    this.runId = runId;
    const after = opts?.dependsOn;

    const preflightKind = preflightPlan(args.preflight, args.command !== undefined);
    if (preflightKind !== "none") {
      this.preflight = new command.remote.Command(
        `${name}-preflight`,
        {
          connection: secretConnection(args.connection),
          create:
            preflightKind === "command"
              ? (args.preflight as NodePreflightSettings).command!
              : "sh -s",
          stdin: preflightScript,
          // as the upgrade's: a new target (or mode) runs it again. No `update`: on any other change
          // the provider runs `create` again, harmless for a check that changes nothing.
          triggers: [target.text, args.mode],
          logging: "stdoutAndStderr",
        },
        { parent: this, dependsOn: after },
      );
    }
    // The drain after the preflight (which is after `dependsOn`) and `drainAfter`; without a
    // preflight, after `dependsOn` as before.
    const preflightRes = this.preflight;
    let drainDeps = after;
    if (preflightRes !== undefined || args.drainAfter !== undefined) {
      const deps = Promise.all([after, args.drainAfter]).then(
        ([a, extra]): pulumi.Input<pulumi.Resource>[] => [
          // `dependsOn` reaches the drain through the preflight when there is one
          ...(preflightRes
            ? [preflightRes]
            : a === undefined
              ? []
              : Array.isArray(a)
                ? (a as pulumi.Input<pulumi.Resource>[])
                : [a as pulumi.Input<pulumi.Resource>]),
          ...(extra ?? []).filter((r) => r !== preflightRes),
        ],
      );
      drainDeps = deps;
    }

    // what the drain, the ready wait and the uncordon show in the cluster (Events, annotation)
    const progress: NodeProgressTarget | undefined =
      args.progress === false
        ? undefined
        : {
            runId,
            targetVersion: target.text,
            mode: args.mode,
            fromVersion: args.fromVersion,
            ...(typeof args.progress === "object" ? args.progress : {}),
          };
    this.drain = new NodeDrain(
      `${name}-drain`,
      {
        nodeName: args.nodeName,
        kubeconfig,
        runId,
        options: { ...NODE_UPGRADE_DRAIN_DEFAULTS, ...args.drain },
        report: args.report,
        progress,
      },
      { parent: this, dependsOn: drainDeps },
    );
    this.upgrade = new command.remote.Command(
      `${name}-upgrade`,
      {
        connection: secretConnection(args.connection),
        // The rendered script goes in on stdin (`sh -s`), so the command line stays short and no
        // value is re-parsed by the remote login shell.
        create: args.command ?? "sh -s",
        // any other change (connection, script, override) only checks: see updateCheckCommand
        update: updateCheckCommand(args.nodeName, target.text, args.command === undefined),
        stdin: rendered,
        triggers: [target.text, args.mode],
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: [this.drain] },
    );
    this.ready = new NodeReadyWait(
      `${name}-ready`,
      {
        nodeName: args.nodeName,
        kubeconfig,
        targetVersion: target.text,
        timeoutSeconds: args.readyTimeoutSeconds ?? DEFAULT_NODE_STEP_TIMEOUT_SECONDS,
        trigger: this.upgrade.id,
        report: args.report,
        progress,
      },
      { parent: this, dependsOn: [this.upgrade] },
    );
    this.uncordon = new NodeUncordon(
      `${name}-uncordon`,
      {
        nodeName: args.nodeName,
        kubeconfig,
        runId,
        triggers: [target.text],
        report: args.report,
        progress,
      },
      { parent: this, dependsOn: [this.ready] },
    );
    this.kubeletVersion = this.ready.kubeletVersion;
    this.stdout = this.upgrade.stdout;
    this.registerOutputs({
      nodeName: this.nodeName,
      targetVersion: this.targetVersion,
      kubeletVersion: this.kubeletVersion,
      stdout: this.stdout,
    });
  }
}
