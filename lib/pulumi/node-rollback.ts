/**
 * `NodeRollback` (kube-upkeep:index:NodeRollback): puts one node back at the version it ran
 * before an upgrade, as ordered children:
 *
 *   NodeDrain -> remote.Command (the rendered rollback, lib/core/scripts/node-rollback.ts)
 *     -> NodeReadyWait (Ready at the previous version) -> [control plane: NodeHealthGate, the
 *     `control-plane` check at the previous version] -> NodeUncordon
 *
 * Declared after a failed roll (docs/pulumi.md, "Rollback"): the node the roll left cordoned is
 * drained again under the rollback's run id (which takes the cordon over), rolled back, and put
 * back in service only once it is Ready at the previous version.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { DEFAULT_NODE_STEP_TIMEOUT_SECONDS } from "../core/defaults";
import { ProblemCollector, ValidationError } from "../core/errors";
import {
  renderNodeRollbackScript,
  type NodeRollbackScriptOptions,
} from "../core/scripts/node-rollback";
import { validateDnsName } from "../core/scripts/shell";
import { parseKubeVersion } from "../core/version";
import { NodeDrain, type NodeDrainOptions } from "./node-drain";
import { NodeHealthGate } from "./node-health-gate";
import { NodeReadyWait } from "./node-ready-wait";
import { NodeUncordon } from "./node-uncordon";
import {
  checkConnection,
  checkNodeUpgradeSettings,
  NODE_UPGRADE_DRAIN_DEFAULTS,
  secretConnection,
  type SshConnection,
} from "./node-upgrade";

/** Settings of the rendered rollback (the package ones as the upgrade's `script`). */
export type NodeRollbackScriptSettings = Omit<
  NodeRollbackScriptOptions,
  "previousVersion" | "role" | "hostRoot"
>;

export interface NodeRollbackArgs {
  /** The Kubernetes node name. */
  readonly nodeName: string;
  /** The version to go back to (the node's version before the upgrade), "v1.34.4". */
  readonly previousVersion: string;
  /** `control-plane` also restores the static pod manifests kubeadm backed up. */
  readonly role: "worker" | "control-plane";
  /** kubeconfig YAML for the drain, the wait, the check and the uncordon (made secret). */
  readonly kubeconfig: pulumi.Input<string>;
  /** SSH connection to the node (credentials made secret). */
  readonly connection: SshConnection;
  /**
   * The run id recorded on the node while it is cordoned ("<runId>@rollback-<previousVersion>").
   * @default the resource name
   */
  readonly runId?: string;
  /** Drain options, over {@link NODE_UPGRADE_DRAIN_DEFAULTS}. */
  readonly drain?: NodeDrainOptions;
  /** Settings of the rendered rollback (package manager, repository, manifest backup, snapshot). */
  readonly script?: NodeRollbackScriptSettings;
  /** Replaces the rendered rollback: the command run over SSH instead. */
  readonly command?: pulumi.Input<string>;
  /** @default 600 */
  readonly readyTimeoutSeconds?: number;
  /**
   * Control plane: check the node's static pods at the previous version and its /readyz before
   * the uncordon (the `control-plane` health check).
   * @default true
   */
  readonly verify?: boolean;
}

export class NodeRollback extends pulumi.ComponentResource {
  public readonly nodeName: string;
  public readonly previousVersion: string;
  /** The run id recorded on the node while it is cordoned. */
  public readonly runId: string;
  public readonly drain: NodeDrain;
  public readonly rollback: command.remote.Command;
  public readonly ready: NodeReadyWait;
  /** Control plane with `verify`: the check before the uncordon. */
  public readonly verifyGate?: NodeHealthGate;
  public readonly uncordon: NodeUncordon;
  /** The kubelet version the node reported at the end. */
  public readonly kubeletVersion: pulumi.Output<string>;
  /** stdout of the rollback command. */
  public readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: NodeRollbackArgs, opts?: pulumi.ComponentResourceOptions) {
    const where = `NodeRollback ${name}`;
    const problems = new ProblemCollector();
    problems.collect(() => validateDnsName(where, "nodeName", args.nodeName));
    const previous = problems.collect(() =>
      parseKubeVersion(args.previousVersion, where, "previousVersion"),
    );
    checkConnection(where, args.nodeName, args.connection, problems);
    const runId = `${args.runId ?? name}@rollback-${previous?.text ?? args.previousVersion}`;
    checkNodeUpgradeSettings(where, args.nodeName, { ...args, runId }, problems);
    const rendered =
      args.command === undefined && previous
        ? problems.collect(
            () =>
              renderNodeRollbackScript({
                ...args.script,
                previousVersion: previous.text,
                role: args.role,
              }),
            (e) =>
              new ValidationError(
                where,
                e.field === "role" ? "role" : `script.${e.field}`,
                e.value,
                e.problem,
                e.fix,
              ),
          )
        : undefined;
    problems.throwIfAny();
    super("kube-upkeep:index:NodeRollback", name, {}, opts);
    this.nodeName = args.nodeName;
    this.previousVersion = previous!.text;
    this.runId = runId;
    const kubeconfig = pulumi.secret(args.kubeconfig);

    this.drain = new NodeDrain(
      `${name}-drain`,
      {
        nodeName: args.nodeName,
        kubeconfig,
        runId,
        options: { ...NODE_UPGRADE_DRAIN_DEFAULTS, ...args.drain },
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );
    this.rollback = new command.remote.Command(
      `${name}-rollback`,
      {
        connection: secretConnection(args.connection),
        create: args.command ?? "sh -s",
        stdin: rendered,
        // The rollback runs once, right after its drain; a later change of the settings does not
        // run it again on a node back in service (a new previous version does: a new rollback).
        update: "cat >/dev/null 2>&1 || true",
        triggers: [this.previousVersion, args.role],
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: [this.drain] },
    );
    this.ready = new NodeReadyWait(
      `${name}-ready`,
      {
        nodeName: args.nodeName,
        kubeconfig,
        targetVersion: this.previousVersion,
        timeoutSeconds: args.readyTimeoutSeconds ?? DEFAULT_NODE_STEP_TIMEOUT_SECONDS,
        trigger: this.rollback.id,
      },
      { parent: this, dependsOn: [this.rollback] },
    );
    let beforeUncordon: pulumi.Resource = this.ready;
    if (args.role === "control-plane" && args.verify !== false) {
      this.verifyGate = new NodeHealthGate(
        `${name}-verify`,
        {
          nodeName: args.nodeName,
          kubeconfig,
          checks: [{ kind: "control-plane", node: args.nodeName, version: this.previousVersion }],
          trigger: this.rollback.id,
        },
        { parent: this, dependsOn: [this.ready] },
      );
      beforeUncordon = this.verifyGate;
    }
    this.uncordon = new NodeUncordon(
      `${name}-uncordon`,
      { nodeName: args.nodeName, kubeconfig, runId, triggers: [this.previousVersion] },
      { parent: this, dependsOn: [beforeUncordon] },
    );
    this.kubeletVersion = this.ready.kubeletVersion;
    this.stdout = this.rollback.stdout;
    this.registerOutputs({
      nodeName: this.nodeName,
      previousVersion: this.previousVersion,
      kubeletVersion: this.kubeletVersion,
      stdout: this.stdout,
    });
  }
}
