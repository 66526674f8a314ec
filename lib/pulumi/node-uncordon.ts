/**
 * NodeUncordon: a Pulumi dynamic resource that makes a node schedulable again when it is
 * created, but only if kube-upkeep cordoned it (annotation kube-upkeep.io/cordoned-by; with
 * runId, only that run's cordon). A node an admin cordoned is left cordoned and the outputs say so
 * (outcome "cordoned-by-someone-else"); force: true overrides that.
 *
 * Lifecycle: create = uncordon; update (kubeconfig, force) records only; replace (nodeName, runId
 * or triggers changed) uncordons again; delete does nothing (it never re-cordons a node).
 * Type token: `pulumi-nodejs:dynamic/kube-upkeep:NodeUncordon` (see node-drain.ts). check and
 * create are core's (lib/core/drain/provider.ts); this file is the adapter.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtime from "./provider-runtime";
import type { NodeProgressTarget } from "../core/progress/reporter";
import type { StepReportTarget } from "../core/report/recorder";

export const NODE_UNCORDON_TYPE = "pulumi-nodejs:dynamic/kube-upkeep:NodeUncordon";

export interface NodeUncordonArgs {
  readonly nodeName: pulumi.Input<string>;
  /** Kubeconfig YAML of the cluster. Stored as a Pulumi secret; never logged. */
  readonly kubeconfig: pulumi.Input<string>;
  /** Only remove the cordon of this run (the NodeDrain's runId). @default any kube-upkeep cordon */
  readonly runId?: pulumi.Input<string>;
  /** Uncordon even if kube-upkeep did not cordon the node. @default false */
  readonly force?: pulumi.Input<boolean>;
  /** Any change of these values uncordons again (replacement), like @pulumi/command's triggers. */
  readonly triggers?: pulumi.Input<unknown[]>;
  /** Record the uncordon in this roll report run (ClusterUpgrade's `report`); never causes an update. */
  readonly report?: pulumi.Input<StepReportTarget>;
  /**
   * Show the uncordon in the cluster: an Uncordoned (or Failed) Event on the node and the
   * kube-upkeep.io/upgrade annotation's step "uncordoned" (lib/core/progress). NodeUpgrade passes
   * it; never causes an update.
   */
  readonly progress?: pulumi.Input<NodeProgressTarget>;
}

export interface NodeUncordonInputs {
  readonly nodeName: string;
  readonly kubeconfig: string;
  readonly runId?: string;
  readonly force?: boolean;
  readonly triggers?: unknown[];
  readonly report?: StepReportTarget;
  readonly progress?: NodeProgressTarget;
}

export interface NodeUncordonOutputs extends NodeUncordonInputs {
  /** Whether this resource made the node schedulable. */
  readonly uncordoned: boolean;
  /** "uncordoned" | "not-cordoned" | "cordoned-by-someone-else" | "cordoned-by-other-run" */
  readonly outcome: string;
  readonly message: string;
}

// bound to constants so the provider's serialized closure holds the functions, not this
// module's import (see provider-runtime.ts)
const loadCore = runtime.loadCore;
const log = runtime.providerLog;

export const nodeUncordonProvider: pulumi.dynamic.ResourceProvider = {
  async check(
    _olds: NodeUncordonInputs,
    news: NodeUncordonInputs,
  ): Promise<pulumi.dynamic.CheckResult> {
    return { inputs: news, failures: loadCore().nodeProviderSteps.nodeUncordon.check(news) };
  },

  async diff(
    _id: string,
    olds: NodeUncordonOutputs,
    news: NodeUncordonInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const replaces: string[] = [];
    if (olds.nodeName !== news.nodeName) replaces.push("nodeName");
    if ((olds.runId ?? "") !== (news.runId ?? "")) replaces.push("runId");
    if (JSON.stringify(olds.triggers ?? []) !== JSON.stringify(news.triggers ?? []))
      replaces.push("triggers");
    const changes =
      replaces.length > 0 ||
      olds.kubeconfig !== news.kubeconfig ||
      (olds.force ?? false) !== (news.force ?? false);
    return { changes, replaces, deleteBeforeReplace: true };
  },

  async create(inputs: NodeUncordonInputs): Promise<pulumi.dynamic.CreateResult> {
    const result = await loadCore().nodeProviderSteps.nodeUncordon.create(inputs, log);
    const outs: NodeUncordonOutputs = { ...inputs, ...result };
    return { id: `${inputs.nodeName}/${inputs.runId ?? ""}`, outs };
  },

  async update(
    _id: string,
    olds: NodeUncordonOutputs,
    news: NodeUncordonInputs,
  ): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: { ...olds, ...news } };
  },

  async delete(): Promise<void> {
    // Never re-cordons.
  },
};

/** Uncordons a node kube-upkeep cordoned (see the file comment). */
export class NodeUncordon extends pulumi.dynamic.Resource {
  declare public readonly nodeName: pulumi.Output<string>;
  declare public readonly uncordoned: pulumi.Output<boolean>;
  declare public readonly outcome: pulumi.Output<string>;
  declare public readonly message: pulumi.Output<string>;

  constructor(name: string, args: NodeUncordonArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      nodeUncordonProvider,
      name,
      {
        nodeName: args.nodeName,
        kubeconfig: pulumi.secret(args.kubeconfig),
        runId: args.runId,
        force: args.force ?? false,
        triggers: args.triggers,
        report: args.report,
        progress: args.progress,
        uncordoned: undefined,
        outcome: undefined,
        message: undefined,
      },
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["kubeconfig"] }),
      "kube-upkeep",
      "NodeUncordon",
    );
  }
}
