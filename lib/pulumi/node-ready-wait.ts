/**
 * `NodeReadyWait`: a dynamic resource whose create waits until a node is Ready and its kubelet
 * reports the target version (`status.nodeInfo.kubeletVersion`), or fails after a timeout with
 * what it last saw. It is the "the upgrade took effect" gate between the upgrade command and the
 * uncordon in `NodeUpgrade`.
 *
 * check and create are core's (lib/core/drain/provider.ts, the wait loop lib/core/drain/ready.ts);
 * this file is the adapter (serialization: see provider-runtime.ts). The kubeconfig is an input only (kept secret), never an output.
 *
 * Lifecycle: create = wait; a new target version, node or `trigger` replaces it (waits again);
 * delete does nothing (waiting has no effect to undo).
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtime from "./provider-runtime";
import type { NodeProgressTarget } from "../core/progress/reporter";
import type { StepReportTarget } from "../core/report/recorder";

// bound to constants so the provider's serialized closure holds the functions, not this
// module's import (see provider-runtime.ts)
const loadCore = runtime.loadCore;
const log = runtime.providerLog;

export interface NodeReadyWaitArgs {
  /** The node to watch. */
  readonly nodeName: pulumi.Input<string>;
  /** kubeconfig YAML (pass a secret; it is wrapped in `pulumi.secret` anyway). */
  readonly kubeconfig: pulumi.Input<string>;
  /** The kubelet version the node must report, e.g. "v1.35.4". */
  readonly targetVersion: pulumi.Input<string>;
  /**
   * How long to wait before failing.
   * @default 600 (10 minutes)
   */
  readonly timeoutSeconds?: pulumi.Input<number>;
  /**
   * How often to read the node while its watch has not shown it at the target (the fallback: the
   * watch ends the wait as soon as the kubelet reports the target version).
   * @default 2
   */
  readonly pollSeconds?: pulumi.Input<number>;
  /** Anything whose change should make the wait run again (e.g. the upgrade command's id). */
  readonly trigger?: pulumi.Input<string>;
  /** Record the wait in this roll report run (ClusterUpgrade's `report`); never causes an update. */
  readonly report?: pulumi.Input<StepReportTarget>;
  /**
   * Show the result in the cluster: an Upgraded (or Failed) Event on the node and the
   * kube-upkeep.io/upgrade annotation's step "upgraded" (lib/core/progress). NodeUpgrade passes
   * it; never causes an update.
   */
  readonly progress?: pulumi.Input<NodeProgressTarget>;
}

interface WaitInputs {
  nodeName: string;
  kubeconfig: string;
  targetVersion: string;
  timeoutSeconds?: number;
  pollSeconds?: number;
  trigger?: string;
  report?: StepReportTarget;
  progress?: NodeProgressTarget;
}

interface WaitOutputs {
  nodeName: string;
  targetVersion: string;
  trigger?: string;
  kubeletVersion: string;
  waitedSeconds: number;
}

/** The dynamic provider (exported so tests can call create directly against a cluster). */
export const nodeReadyWaitProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: WaitInputs, news: WaitInputs): Promise<pulumi.dynamic.CheckResult> {
    return { inputs: news, failures: loadCore().nodeProviderSteps.nodeReadyWait.check(news) };
  },

  async create(inputs: WaitInputs): Promise<pulumi.dynamic.CreateResult<WaitOutputs>> {
    const r = await loadCore().nodeProviderSteps.nodeReadyWait.create(inputs, log);
    return {
      id: `${inputs.nodeName}@${inputs.targetVersion}`,
      outs: {
        nodeName: inputs.nodeName,
        targetVersion: inputs.targetVersion,
        // an undefined value is not a protobuf Struct value: the engine refuses the outputs
        ...(inputs.trigger === undefined ? {} : { trigger: inputs.trigger }),
        kubeletVersion: r.kubeletVersion,
        waitedSeconds: Math.round(r.waitedMs / 100) / 10,
      },
    };
  },

  async diff(_id: string, olds: WaitOutputs, news: WaitInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = (["nodeName", "targetVersion", "trigger"] as const).filter(
      (k) => olds[k] !== news[k],
    );
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },

  async delete(): Promise<void> {
    // Nothing to undo.
  },
};

/** Waits until `nodeName` is Ready and reports kubelet `targetVersion`. */
export class NodeReadyWait extends pulumi.dynamic.Resource {
  declare public readonly nodeName: pulumi.Output<string>;
  declare public readonly targetVersion: pulumi.Output<string>;
  /** The kubelet version the node reported when it became Ready. */
  declare public readonly kubeletVersion: pulumi.Output<string>;
  /** How long the wait took. */
  declare public readonly waitedSeconds: pulumi.Output<number>;

  constructor(name: string, args: NodeReadyWaitArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      nodeReadyWaitProvider,
      name,
      {
        nodeName: args.nodeName,
        kubeconfig: pulumi.secret(args.kubeconfig),
        targetVersion: args.targetVersion,
        timeoutSeconds: args.timeoutSeconds,
        pollSeconds: args.pollSeconds,
        trigger: args.trigger,
        report: args.report,
        progress: args.progress,
        kubeletVersion: undefined,
        waitedSeconds: undefined,
      },
      opts,
      "kube-upkeep",
      "NodeReadyWait",
    );
  }
}
