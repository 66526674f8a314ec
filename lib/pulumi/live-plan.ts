/**
 * ClusterUpgrade's live plan: the plan made from the cluster as it is, read through the roll's
 * kubeconfig when the program runs, i.e. at `pulumi preview` and again at `pulumi up`.
 *
 * Reading a cluster inside a Pulumi program:
 *  - The kubeconfig is an Input, usually a secret Output of the stack's config: its value is
 *    taken from the Output (known at preview when it comes from config). When it is not known at
 *    preview (an output of a resource that does not exist yet), there is nothing to read with:
 *    the plan is made from the declared versions and says so.
 *  - The read is a plain client-node read in the program's process, not a resource: it leaves
 *    nothing in the state (a data-source-like dynamic resource would have no outputs at preview,
 *    when they matter most, and an "invoke" is not available to dynamic providers). Nothing read
 *    is secret (versions, names, roles), so the plan is not a secret output.
 *  - What the read decides is which nodes get resources and with what inputs, so the same
 *    cluster must give the same resources: a node this run already upgraded keeps its resources,
 *    with the kubeadm mode and from-version recorded in its kube-upkeep.io/upgrade annotation
 *    when it was drained (lib/core/progress). A second `pulumi up` after a successful roll reads
 *    every node at the target, "done" by this run, and registers exactly what the first one did:
 *    no change. Nodes at the target that this run did not upgrade get no resources.
 *  - The read is bounded (20 s) and a failure falls back to the declared versions ("auto"), or is
 *    an error ("required").
 */
import * as pulumi from "@pulumi/pulumi";
import { ProblemCollector, ValidationError } from "../core/errors";
import { planUpgrade, type UpgradePlan, type UpgradePlanInput } from "../core/plan";
import type { LiveClusterState } from "../core/live/state";

/** ClusterUpgrade's `livePlan`. */
export type LivePlanSetting = "auto" | "required" | false;

export const LIVE_PLAN_SETTINGS: readonly LivePlanSetting[] = ["auto", "required", false];

/** An Input's value, or "unknown" (an output not known yet, at preview). */
export async function inputValue(
  input: pulumi.Input<string>,
): Promise<{ known: true; value: string } | { known: false }> {
  type T = string;
  // Output's isKnown / promise() are the SDK's own way to wait for a value without apply (whose
  // callback never runs for an unknown value at preview); both exist on every Output.
  const o = pulumi.output(input) as unknown as {
    isKnown?: Promise<boolean>;
    promise?: (withUnknowns?: boolean) => Promise<T>;
  };
  if (typeof o.promise !== "function" || !o.isKnown)
    return {
      known: true,
      value: await new Promise<T>((r) => pulumi.output(input).apply((v) => r(v))),
    };
  if (!(await o.isKnown)) return { known: false };
  return { known: true, value: await o.promise() };
}

export interface LivePlanRequest {
  /** "ClusterUpgrade <name>", for messages. */
  readonly where: string;
  readonly setting: LivePlanSetting;
  readonly kubeconfig: pulumi.Input<string>;
  /** The plan's input as declared (versions as given). */
  readonly declared: UpgradePlanInput;
  /** "<runId>@<target>". */
  readonly runId: string;
  readonly allowUnlistedNodes?: boolean;
  /** Bound of the read. @default 20000 */
  readonly timeoutMs?: number;
}

export interface LivePlanResult {
  readonly plan: UpgradePlan;
  /** The cluster as read; undefined when the plan is from the declared versions. */
  readonly live?: LiveClusterState;
  /** Why the cluster was not read (declared plan). */
  readonly notRead?: string;
}

/** The plan from the declared versions, saying why the cluster was not read. */
function declaredPlan(r: LivePlanRequest, reason: string): LivePlanResult {
  const plan = planUpgrade({ ...r.declared, source: { kind: "declared", reason } }, r.where);
  return { plan, notRead: reason };
}

/**
 * Makes the plan: from the cluster when it can be read (and `setting` is not false), else from
 * the declared versions. Throws ValidationErrors with every problem: the declared roll against
 * the cluster (lib/core/live/reconcile.ts) and the plan's own.
 */
export async function makePlan(r: LivePlanRequest): Promise<LivePlanResult> {
  if (r.setting === false) return declaredPlan(r, "livePlan: false");
  // loaded here, not at the top: importing kube-upkeep/pulumi does not load client-node (ESM)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const core = require("../core") as typeof import("../core");
  const kc = await inputValue(r.kubeconfig);
  let live: LiveClusterState | undefined;
  let reason: string;
  if (!kc.known) {
    reason = "the kubeconfig is not known yet (an output of a resource that is not created yet)";
  } else {
    try {
      live = await core.readClusterState(core.kubeConfigFromYaml(kc.value), {
        timeoutMs: r.timeoutMs,
      });
      reason = "";
    } catch (e) {
      reason = e instanceof Error ? e.message.split("\n")[0]! : String(e);
    }
  }
  if (!live) {
    if (r.setting === "required")
      throw new core.ValidationErrors([
        new ValidationError(
          r.where,
          "livePlan",
          "required",
          `the cluster could not be read for the plan: ${reason}`,
          'give a kubeconfig that reaches the API server (RBAC: nodes list, configmaps get kube-system/kubeadm-config, pods list), or livePlan: "auto" to plan from the declared versions when it cannot',
        ),
      ]);
    return declaredPlan(r, reason);
  }
  return planFromCluster(r, live);
}

/**
 * The plan from the cluster as read (pure): the declared roll checked against it, then planned
 * with the cluster's versions, kubeadm's ClusterConfiguration, this run's progress on each node
 * and the component rows. Throws ValidationErrors with every problem.
 */
export function planFromCluster(
  r: Pick<LivePlanRequest, "where" | "declared" | "runId" | "allowUnlistedNodes">,
  live: LiveClusterState,
): LivePlanResult {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const core = require("../core") as typeof import("../core");
  const target = core.tryParseKubeVersion(r.declared.targetVersion);
  const reconciled = core.reconcileWithCluster(
    r.where,
    {
      nodes: r.declared.nodes,
      currentVersion: r.declared.currentVersion,
      targetVersion: r.declared.targetVersion,
      runId: r.runId,
      allowUnlistedNodes: r.allowUnlistedNodes,
    },
    live,
  );
  const problems = new ProblemCollector();
  problems.add(...reconciled.problems);
  const plan = problems.collect(() =>
    planUpgrade(
      {
        ...r.declared,
        nodes: reconciled.nodes,
        currentVersion: undefined,
        controlPlaneUpgraded: reconciled.controlPlaneUpgraded,
        source: {
          kind: "cluster",
          server: live.server,
          apiserverVersion: live.apiserverVersion,
          kubeadmVersion: live.kubeadmVersion,
          nodes: live.nodes.length,
        },
        components: target ? core.planComponents(live.components, target.text) : [],
        unlisted: reconciled.unlisted,
        notes: [...reconciled.warnings, ...live.notes],
      },
      r.where,
    ),
  );
  problems.throwIfAny();
  return { plan: plan!, live };
}
