/**
 * `NodeUpgrade` (kube-upkeep:index:NodeUpgrade): upgrade one kubeadm node as four ordered
 * children:
 *
 *   NodeDrain -> remote.Command (the rendered upgrade script over SSH) -> NodeReadyWait -> NodeUncordon
 *
 * - The command's `triggers` hold the target version: a new target reruns it; the same target
 *   does not (and the script itself skips work already done on the node).
 * - The command can be replaced (`command`): users with other OS tooling, or simulated nodes.
 * - NodeReadyWait gates the uncordon on the node being Ready at the target kubelet version.
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
import { ValidationError } from "../core/errors";
import { validateDnsName } from "../core/scripts/shell";
import {
  renderNodeUpgradeScript,
  type NodeUpgradeScriptOptions,
} from "../core/scripts/node-upgrade";
import { parseKubeVersion } from "../core/version";
import { NodeDrain, type NodeDrainOptions } from "./node-drain";
import { NodeReadyWait } from "./node-ready-wait";
import { NodeUncordon } from "./node-uncordon";

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
export type NodeUpgradeScriptSettings = Omit<NodeUpgradeScriptOptions, "targetVersion" | "mode">;

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
  /** Settings of the rendered script (package manager, package version, sudo, kubeadm flags). */
  readonly script?: NodeUpgradeScriptSettings;
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
}

export class NodeUpgrade extends pulumi.ComponentResource {
  public readonly nodeName: string;
  public readonly targetVersion: string;
  public readonly mode: "apply" | "node";
  /** The run id recorded on the node while it is cordoned ("<runId>@<targetVersion>"). */
  public readonly runId: string;
  /** The script run over SSH (the rendered one, or the override). */
  public readonly script: pulumi.Output<string>;
  public readonly drain: NodeDrain;
  public readonly upgrade: command.remote.Command;
  public readonly ready: NodeReadyWait;
  public readonly uncordon: NodeUncordon;
  /** The kubelet version the node reported at the end. */
  public readonly kubeletVersion: pulumi.Output<string>;
  /** stdout of the upgrade command. */
  public readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: NodeUpgradeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kube-upkeep:index:NodeUpgrade", name, {}, opts);
    const where = `NodeUpgrade ${name}`;
    validateDnsName(where, "nodeName", args.nodeName);
    const target = parseKubeVersion(args.targetVersion, where, "targetVersion");
    if (!args.connection || args.connection.host === undefined || args.connection.host === "") {
      throw new ValidationError(
        where,
        "connection.host",
        args.connection?.host,
        "no SSH host for the node",
        `give connection.host for node ${args.nodeName}`,
      );
    }
    this.nodeName = args.nodeName;
    this.targetVersion = target.text;
    this.mode = args.mode;

    const rendered =
      args.command === undefined
        ? renderNodeUpgradeScript({ ...args.script, targetVersion: target.text, mode: args.mode })
        : undefined;
    this.script = pulumi.output(args.command ?? rendered!);
    const kubeconfig = pulumi.secret(args.kubeconfig);
    const runId = `${args.runId ?? name}@${target.text}`;
    this.runId = runId;
    const after = opts?.dependsOn;

    this.drain = new NodeDrain(
      `${name}-drain`,
      {
        nodeName: args.nodeName,
        kubeconfig,
        runId,
        options: { ...NODE_UPGRADE_DRAIN_DEFAULTS, ...args.drain },
      },
      { parent: this, dependsOn: after },
    );
    this.upgrade = new command.remote.Command(
      `${name}-upgrade`,
      {
        connection: secretConnection(args.connection),
        // The rendered script goes in on stdin (`sh -s`), so the command line stays short and no
        // value is re-parsed by the remote login shell.
        create: args.command ?? "sh -s",
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
        timeoutSeconds: args.readyTimeoutSeconds ?? 600,
        trigger: this.upgrade.id,
      },
      { parent: this, dependsOn: [this.upgrade] },
    );
    this.uncordon = new NodeUncordon(
      `${name}-uncordon`,
      { nodeName: args.nodeName, kubeconfig, runId, triggers: [target.text] },
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
