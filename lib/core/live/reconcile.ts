/**
 * The declared roll against the cluster as read (state.ts): the versions the plan uses are the
 * cluster's, and every disagreement is an error naming the node, found before anything runs:
 *
 *  - a listed node the cluster does not have;
 *  - a cluster node that is not listed (unless `allowUnlistedNodes`: then it is left alone,
 *    shown in the plan, and checked against the skew policy as it will stay);
 *  - a declared role that is not the node's (node-role.kubernetes.io/control-plane);
 *  - a declared version (`nodes[i].version`, else `currentVersion`) that is not the node's
 *    kubelet version. A node already at the target agrees with any declaration: it is the roll's
 *    own progress (a re-run after a partial roll, or the second `pulumi up` after success).
 *
 * The kube-upkeep.io/upgrade annotation of this run (runId@target) gives each node its state:
 * "done" and "resume" nodes keep their resources (so a finished roll's second `pulumi up` changes
 * nothing, and a node upgraded but not uncordoned gets its uncordon), with the kubeadm mode and
 * the from-version recorded when they were drained.
 */
import { ValidationError } from "../errors";
import type { NodeRole, PlanNodeInput } from "../plan";
import { runStateOf } from "../progress/annotation";
import {
  compareKubeVersions,
  maxKubeletSkew,
  minorDistance,
  SKEW_POLICY,
  tryParseKubeVersion,
} from "../version";
import type { LiveClusterState, LiveNode } from "./state";

export interface DeclaredNode {
  readonly name: string;
  readonly role: NodeRole;
  readonly version?: string;
}

export interface ReconcileInput {
  readonly nodes: readonly DeclaredNode[];
  readonly currentVersion?: string;
  readonly targetVersion: string;
  /** The run id as the nodes record it: "<runId>@<target>". */
  readonly runId: string;
  /** Cluster nodes missing from `nodes` are left alone instead of an error. @default false */
  readonly allowUnlistedNodes?: boolean;
}

/** A cluster node the roll leaves alone (allowUnlistedNodes). */
export interface UnlistedNode {
  readonly name: string;
  readonly role: NodeRole;
  readonly kubeletVersion: string;
}

export interface ReconciledPlan {
  /** The plan's nodes: the listed ones, in the order given, with the cluster's versions. */
  readonly nodes: PlanNodeInput[];
  /** kubeadm upgrade apply already ran for the target (ClusterConfiguration says so); undefined: unknown. */
  readonly controlPlaneUpgraded?: boolean;
  readonly unlisted: UnlistedNode[];
  /** Errors, each naming the node (and the field the user wrote). */
  readonly problems: ValidationError[];
  /** What the plan should warn about (not Ready nodes, foreign cordons, unlisted nodes). */
  readonly warnings: string[];
}

export function reconcileWithCluster(
  where: string,
  input: ReconcileInput,
  live: LiveClusterState,
): ReconciledPlan {
  const problems: ValidationError[] = [];
  const warnings: string[] = [];
  const byName = new Map(live.nodes.map((n) => [n.name, n]));
  const target = tryParseKubeVersion(input.targetVersion);
  const listed = new Set(input.nodes.map((n) => n.name));
  const nodes: PlanNodeInput[] = [];

  input.nodes.forEach((d, i) => {
    const n = byName.get(d.name);
    if (!n) {
      problems.push(
        new ValidationError(
          where,
          `nodes[${i}].name`,
          d.name,
          `node ${d.name} is listed, but the cluster has no such node (${live.nodes.length} nodes read from ${live.server ?? "the cluster"})`,
          "remove it from nodes, or correct the name (kubectl get nodes)",
        ),
      );
      return;
    }
    if (d.role !== n.role) {
      problems.push(
        new ValidationError(
          where,
          `nodes[${i}].role`,
          d.role,
          `node ${d.name} is a ${n.role} node in the cluster (roles: ${n.roles.join(", ") || "none"})`,
          `declare it with role "${n.role}"`,
        ),
      );
    }
    const declared = d.version ?? input.currentVersion;
    const dv = tryParseKubeVersion(declared);
    const lv = tryParseKubeVersion(n.kubeletVersion);
    if (!lv) {
      problems.push(
        new ValidationError(
          where,
          `nodes[${i}].name`,
          d.name,
          `node ${d.name} reports no kubelet version the plan can use (${JSON.stringify(n.kubeletVersion)})`,
          "check the node's kubelet (kubectl get node -o wide); the plan needs its version",
        ),
      );
      return;
    }
    const atTarget = target !== undefined && compareKubeVersions(lv, target) === 0;
    if (dv && compareKubeVersions(dv, lv) !== 0 && !atTarget) {
      const own = d.version !== undefined;
      problems.push(
        new ValidationError(
          where,
          own ? `nodes[${i}].version` : "currentVersion",
          declared,
          `declared ${dv.text}, but node ${d.name} runs kubelet ${lv.text} (read from the cluster): a stale declaration would plan the wrong upgrade`,
          own
            ? `set nodes[${i}].version to ${lv.text}, or leave it unset (the plan reads the cluster)`
            : `set currentVersion to ${lv.text}, or leave it unset (the plan reads the cluster)`,
        ),
      );
    }
    const state = runStateOf(n.progress, input.runId, input.targetVersion, n.kubeletVersion);
    if (!n.ready)
      warnings.push(
        `node ${d.name} is not Ready (${n.readyReason}): ${atTarget && !state ? "it is at the target and left alone" : "its upgrade waits for it to be Ready at the target"}`,
      );
    if (atTarget && !state && n.unschedulable)
      warnings.push(
        `node ${d.name} is at the target but cordoned${n.cordonedBy ? ` by kube-upkeep run ${n.cordonedBy}` : ""}: this run leaves it so (kubectl uncordon ${d.name})`,
      );
    nodes.push({
      name: d.name,
      role: d.role,
      version: lv.text,
      ...(state
        ? {
            progress: {
              state,
              ...(n.progress?.mode ? { mode: n.progress.mode } : {}),
              ...(n.progress?.from ? { from: n.progress.from } : {}),
              step: n.progress!.step,
            },
          }
        : {}),
    });
  });

  const unlisted: UnlistedNode[] = [];
  for (const n of live.nodes) {
    if (listed.has(n.name)) continue;
    if (!input.allowUnlistedNodes) {
      problems.push(
        new ValidationError(
          where,
          "nodes",
          n.name,
          `node ${n.name} (${n.role}, kubelet ${n.kubeletVersion || "unknown"}) is in the cluster but not in nodes: it would stay at its version`,
          `list it in nodes, or set allowUnlistedNodes: true to leave it (and every other unlisted node) alone`,
        ),
      );
      continue;
    }
    unlisted.push({ name: n.name, role: n.role, kubeletVersion: n.kubeletVersion });
    const v = tryParseKubeVersion(n.kubeletVersion);
    if (!target || !v) continue;
    const skew = unlistedSkewProblem(n, v, target);
    if (skew)
      problems.push(new ValidationError(where, "allowUnlistedNodes", true, skew.problem, skew.fix));
    else
      warnings.push(
        `node ${n.name} (${n.role}, kubelet ${v.text}) is not in nodes: this roll leaves it at ${v.text}`,
      );
  }

  const kv = tryParseKubeVersion(live.kubeadmVersion);
  return {
    nodes,
    ...(kv && target ? { controlPlaneUpgraded: compareKubeVersions(kv, target) >= 0 } : {}),
    unlisted,
    problems,
    warnings,
  };
}

/** Whether a node the roll leaves alone breaks the skew policy once the control plane is at `target`. */
function unlistedSkewProblem(
  n: LiveNode,
  v: NonNullable<ReturnType<typeof tryParseKubeVersion>>,
  target: NonNullable<ReturnType<typeof tryParseKubeVersion>>,
): { problem: string; fix: string } | undefined {
  if (compareKubeVersions(v, target) > 0)
    return {
      problem: `node ${n.name} is not in nodes and runs kubelet ${v.text}, newer than the target ${target.text}`,
      fix: `choose targetVersion ${v.text} or newer`,
    };
  if (v.major !== target.major)
    return {
      problem: `node ${n.name} is not in nodes and runs kubelet ${v.text}, another major version than ${target.text}`,
      fix: `list ${n.name} in nodes so it is upgraded`,
    };
  const behind = minorDistance(v, target);
  if (n.role === "control-plane" && behind > SKEW_POLICY.apiserverHa)
    return {
      problem: `control-plane node ${n.name} is not in nodes and would stay at ${v.text}, ${behind} minor versions behind the other kube-apiservers at ${target.text}`,
      fix: `list ${n.name} in nodes (control-plane nodes are upgraded one at a time)`,
    };
  if (n.role === "worker" && behind > maxKubeletSkew(v))
    return {
      problem: `node ${n.name} is not in nodes and its kubelet ${v.text} would be ${behind} minor versions behind the control plane at ${target.text}; the skew policy allows ${maxKubeletSkew(v)}`,
      fix: `list ${n.name} in nodes so it is upgraded`,
    };
  return undefined;
}
