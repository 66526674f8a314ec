/**
 * NodeDrain: a Pulumi dynamic resource that cordons a node and drains it (kube-upkeep's drain
 * engine, kubectl drain semantics) when it is created.
 *
 * Lifecycle (a drain is a one-shot action keyed by nodeName + runId):
 *  - create: cordon (annotated kube-upkeep.io/cordoned-by=<runId>) + evict every pod. On failure
 *    (filter errors: nothing evicted, node left as it was; timeout / eviction errors: the node
 *    stays cordoned) the resource is not created and the next `pulumi up` retries it; the retry
 *    takes over the cordon the failed attempt left.
 *    With `progress` (NodeUpgrade passes it) it writes the Cordoned / Drained / UpgradeStarted
 *    (or Failed) Events and the kube-upkeep.io/upgrade annotation, and a node this run already
 *    upgraded (annotation and kubelet say so: the state lost the drain) is not drained again.
 *  - update (drain options, kubeconfig, uncordonOnDelete changed): only recorded, nothing runs.
 *    To drain again, change runId.
 *  - replace (nodeName or runId changed): create-before-delete: the new drain runs first, then
 *    the old resource's delete (which leaves the new run's cordon alone, see below).
 *  - delete (destroy, or the old half of a replace): uncordons the node ONLY if it is still
 *    cordoned by this resource's runId (never an admin's cordon, never another run's), and only
 *    when uncordonOnDelete is true (the default). A node that no longer exists is fine.
 *
 * The resource type is `pulumi-nodejs:dynamic/kube-upkeep:NodeDrain`: Pulumi builds every dynamic
 * resource's token as `pulumi-nodejs:dynamic[/<module>]:<type>`, so `kube-upkeep:index:NodeDrain`
 * cannot be used for a dynamic resource.
 *
 * check and create are core's (lib/core/drain/provider.ts); this file adapts them to Pulumi and
 * loads core in the provider process (serialization: see provider-runtime.ts). Progress lines go
 * through pulumi.log (in a dynamic provider process it prints to the console, which the engine
 * shows).
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtime from "./provider-runtime";
import type { DrainOptions } from "../core";
import type { NodeProgressTarget } from "../core/progress/reporter";
import type { StepReportTarget } from "../core/report/recorder";

/** The type token Pulumi gives this dynamic resource. */
export const NODE_DRAIN_TYPE = "pulumi-nodejs:dynamic/kube-upkeep:NodeDrain";

/** Drain options as plain data (see DrainOptions in kube-upkeep/core for each field's meaning and default). */
export type NodeDrainOptions = DrainOptions;

export interface NodeDrainArgs {
  /** The node to cordon and drain. */
  readonly nodeName: pulumi.Input<string>;
  /** Kubeconfig YAML of the cluster. Stored as a Pulumi secret; never logged. */
  readonly kubeconfig: pulumi.Input<string>;
  /**
   * Identifies this maintenance run; recorded on the node as kube-upkeep.io/cordoned-by. Changing
   * it drains the node again (replacement).
   */
  readonly runId: pulumi.Input<string>;
  /** kubectl drain options: ignoreDaemonSets, deleteEmptyDirData, force, timeoutSeconds (default 600), ... */
  readonly options?: pulumi.Input<NodeDrainOptions>;
  /** On delete, uncordon the node if this run's cordon is still on it. @default true */
  readonly uncordonOnDelete?: pulumi.Input<boolean>;
  /** Record the drain in this roll report run (ClusterUpgrade's `report`); never causes an update. */
  readonly report?: pulumi.Input<StepReportTarget>;
  /**
   * Show the drain in the cluster: Events on the node (Cordoned, Drained, UpgradeStarted, or
   * Failed) and the kube-upkeep.io/upgrade annotation (step "drained"); see
   * lib/core/progress. A node this run already upgraded (the annotation says so and the kubelet
   * is at the target) is not drained again. NodeUpgrade passes it; never causes an update.
   */
  readonly progress?: pulumi.Input<NodeProgressTarget>;
}

/** The inputs as the provider receives them (plain values). */
export interface NodeDrainInputs {
  readonly nodeName: string;
  readonly kubeconfig: string;
  readonly runId: string;
  readonly options?: NodeDrainOptions;
  readonly uncordonOnDelete?: boolean;
  readonly report?: StepReportTarget;
  readonly progress?: NodeProgressTarget;
}

/** The outputs stored in the state. */
export interface NodeDrainOutputs extends NodeDrainInputs {
  /** namespace/name of every evicted pod. */
  readonly evictedPods: string[];
  /** Pods deliberately left: "<ns/name>: <reason>" (DaemonSet pods, mirror pods, ...). */
  readonly skippedPods: string[];
  readonly warnings: string[];
  /** 429 (PodDisruptionBudget) retries. */
  readonly retries: number;
  /** API calls retried after a transient failure (conflict, 5xx, apiserver unreachable). */
  readonly transientRetries?: number;
  readonly durationMs: number;
  /** Whether the cordon is kube-upkeep's (false: an admin had cordoned the node before). */
  readonly cordonedByUs: boolean;
  /**
   * Set when the node was not drained because this run had already upgraded it (see `progress`):
   * "done" (upgraded and uncordoned) or "resume" (upgraded, not uncordoned yet).
   */
  readonly resumed?: string;
}

// bound to constants so the provider's serialized closure holds the functions, not this
// module's import (see provider-runtime.ts)
const loadCore = runtime.loadCore;
const log = runtime.providerLog;

/**
 * The dynamic provider. Exported so tests (and other tools) can call create/delete directly.
 * Everything it needs is required inside the methods.
 */
export const nodeDrainProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: NodeDrainInputs, news: NodeDrainInputs): Promise<pulumi.dynamic.CheckResult> {
    return { inputs: news, failures: loadCore().nodeProviderSteps.nodeDrain.check(news) };
  },

  async diff(
    _id: string,
    olds: NodeDrainOutputs,
    news: NodeDrainInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const replaces = (["nodeName", "runId"] as const).filter((k) => olds[k] !== news[k]);
    const changed =
      replaces.length > 0 ||
      olds.kubeconfig !== news.kubeconfig ||
      JSON.stringify(olds.options ?? {}) !== JSON.stringify(news.options ?? {}) ||
      (olds.uncordonOnDelete ?? true) !== (news.uncordonOnDelete ?? true);
    return { changes: changed, replaces, deleteBeforeReplace: false };
  },

  async create(inputs: NodeDrainInputs): Promise<pulumi.dynamic.CreateResult> {
    const result = await loadCore().nodeProviderSteps.nodeDrain.create(inputs, log);
    const outs: NodeDrainOutputs = { ...inputs, ...result };
    return { id: `${inputs.nodeName}/${inputs.runId}`, outs };
  },

  async update(
    _id: string,
    olds: NodeDrainOutputs,
    news: NodeDrainInputs,
  ): Promise<pulumi.dynamic.UpdateResult> {
    // Nothing runs: the drain already happened for this nodeName + runId.
    return { outs: { ...olds, ...news } };
  },

  async delete(_id: string, props: NodeDrainOutputs): Promise<void> {
    if (props.uncordonOnDelete === false) return;
    await loadCore().nodeProviderSteps.nodeDrain.delete(props, log);
  },
};

/**
 * Cordons and drains a node when created; see the file comment for update/replace/delete.
 *
 * ```ts
 * const drain = new NodeDrain("drain-worker-1", {
 *   nodeName: "worker-1",
 *   kubeconfig: cfg.requireSecret("kubeconfig"),
 *   runId: "upgrade-v1.35.4",
 *   options: { ignoreDaemonSets: true, deleteEmptyDirData: true, timeoutSeconds: 900 },
 * });
 * ```
 */
export class NodeDrain extends pulumi.dynamic.Resource {
  declare public readonly nodeName: pulumi.Output<string>;
  declare public readonly runId: pulumi.Output<string>;
  /** Secret. */
  declare public readonly kubeconfig: pulumi.Output<string>;
  declare public readonly evictedPods: pulumi.Output<string[]>;
  declare public readonly skippedPods: pulumi.Output<string[]>;
  declare public readonly warnings: pulumi.Output<string[]>;
  declare public readonly retries: pulumi.Output<number>;
  declare public readonly durationMs: pulumi.Output<number>;
  declare public readonly cordonedByUs: pulumi.Output<boolean>;

  constructor(name: string, args: NodeDrainArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      nodeDrainProvider,
      name,
      {
        nodeName: args.nodeName,
        kubeconfig: pulumi.secret(args.kubeconfig),
        runId: args.runId,
        options: args.options ?? {},
        uncordonOnDelete: args.uncordonOnDelete ?? true,
        report: args.report,
        progress: args.progress,
        evictedPods: undefined,
        skippedPods: undefined,
        warnings: undefined,
        retries: undefined,
        durationMs: undefined,
        cordonedByUs: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["kubeconfig"] }),
      "kube-upkeep",
      "NodeDrain",
    );
  }
}
