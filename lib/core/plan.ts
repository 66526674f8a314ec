/**
 * The upgrade plan: which node is upgraded when, and after what. Pure data, no I/O: the Pulumi
 * `ClusterUpgrade` turns each step into resources and each `dependsOn` into a Pulumi dependency.
 *
 * Order (kubeadm's, see https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/):
 *
 * 1. `etcd-snapshot`: an etcd snapshot on the first control-plane node (optional, on by default).
 * 2. Control-plane nodes strictly one at a time, in the order given. The first one that still
 *    needs work runs `kubeadm upgrade apply vX.Y.Z`; the others `kubeadm upgrade node`. (When some
 *    control-plane node is already at the target, `apply` already happened: all run `upgrade node`.)
 * 3. Workers as k parallel chains, k = maxUnavailable: worker i (in the order given, counting only
 *    workers that need work) starts after worker i-k has finished (uncordoned), so at most k
 *    workers are out at any moment and no batch barrier waits for the slowest node of a batch.
 *
 * Nodes already at the target version get a `skip` step with no dependencies.
 */
import { ProblemCollector, ValidationError } from "./errors";
import { validateDnsName } from "./scripts/shell";
import {
  compareKubeVersions,
  skewFindingError,
  tryParseKubeVersion,
  validateUpgrade,
  type KubeVersion,
  type SkewFinding,
} from "./version";

export type NodeRole = "control-plane" | "worker";

/** A node to upgrade. */
export interface PlanNodeInput {
  /** The Kubernetes node name (as in `kubectl get nodes`). */
  readonly name: string;
  readonly role: NodeRole;
  /**
   * The node's current kubelet version, e.g. "v1.34.2".
   * @default the plan's `currentVersion`
   */
  readonly version?: string;
  /**
   * What this run already did on the node (its kube-upkeep.io/upgrade annotation, read by the
   * live plan; lib/core/live): a "done" or "resume" node at the target keeps its step (and so its
   * resources: a finished roll's second `pulumi up` changes nothing, a node upgraded but not
   * uncordoned is resumed), and every such node keeps the mode and from-version it was drained
   * with.
   */
  readonly progress?: PlanNodeProgress;
}

/** A node's progress in this run, as the live plan read it. */
export interface PlanNodeProgress {
  /**
   * done: upgraded and uncordoned; resume: upgraded, not uncordoned; started: drained, the
   * upgrade did not take effect yet.
   */
  readonly state: "done" | "resume" | "started";
  readonly mode?: "apply" | "node";
  readonly from?: string;
  /** The last step recorded. */
  readonly step?: string;
}

/** Where the plan's versions come from (shown by formatPlan). */
export type PlanSource =
  | {
      readonly kind: "cluster";
      readonly server?: string;
      readonly apiserverVersion?: string;
      readonly kubeadmVersion?: string;
      readonly nodes: number;
    }
  | { readonly kind: "declared"; readonly reason: string };

/** A component row of the plan (kubeadm upgrade plan's table), from the cluster. */
export interface PlanComponent {
  readonly component: string;
  /** The node (static pods) or "<n> pods". */
  readonly where: string;
  readonly current: string;
  readonly target: string;
}

/**
 * What happens when a node's upgrade fails. The roll stops there: no later node is touched
 * (nodes already in flight in other worker chains finish), and the error names the node.
 *
 * - `leave-cordoned` (the only policy so far): the failed node stays cordoned and drained, so no
 *   workload lands on a node in an unknown state; the kube-upkeep cordon annotation stays, so the
 *   next run (or `NodeUncordon`) can still remove it. Fix the node and re-run: the upgrade script
 *   skips what is already done.
 *
 * An automatic "uncordon on failure" is deliberately not offered: with Pulumi, dependents of a
 * failed resource never run, and a command that reported success so that an uncordon could follow
 * would not be retried by the next `pulumi up`.
 */
export type FailurePolicy = "leave-cordoned";

export const FAILURE_POLICIES: readonly FailurePolicy[] = ["leave-cordoned"];

export interface UpgradePlanInput {
  readonly nodes: readonly PlanNodeInput[];
  /** The version to upgrade to, e.g. "v1.35.4". */
  readonly targetVersion: string;
  /** The cluster's current version; the default for nodes without `version`. */
  readonly currentVersion?: string;
  /**
   * How many workers may be out (cordoned, drained, upgrading) at once: a count (>= 1) or a
   * percentage of the workers listed, "25%". Percentages round down, with a minimum of 1
   * (25% of 10 workers = 2; 5% of 10 = 1). Counts larger than the number of workers that need
   * work are clamped to it.
   * @default 1
   */
  readonly maxUnavailable?: number | string;
  /** @default "leave-cordoned" */
  readonly failurePolicy?: FailurePolicy;
  /**
   * Take an etcd snapshot on the first control-plane node before anything else.
   * @default true
   */
  readonly etcdSnapshot?: boolean;
  /**
   * Whether `kubeadm upgrade apply` already ran for the target (kubeadm's ClusterConfiguration
   * says the target): every control-plane node then runs `kubeadm upgrade node`.
   * @default - judged from the nodes: apply ran when a control-plane node is at the target
   */
  readonly controlPlaneUpgraded?: boolean;
  /** Shown in the plan: where the versions come from. */
  readonly source?: PlanSource;
  /** Shown in the plan: the cluster's component versions. */
  readonly components?: readonly PlanComponent[];
  /** Shown in the plan: cluster nodes the roll leaves alone. */
  readonly unlisted?: readonly { name: string; role: NodeRole; kubeletVersion: string }[];
  /** More warnings to show (the live plan's). */
  readonly notes?: readonly string[];
}

export type PlanAction =
  "etcd-snapshot" | "kubeadm-upgrade-apply" | "kubeadm-upgrade-node" | "skip";

export interface PlanStep {
  /** Unique id: "etcd-snapshot" or "node/<name>". */
  readonly id: string;
  readonly action: PlanAction;
  /** The node (for the snapshot: the control-plane node it runs on). */
  readonly node?: string;
  readonly role?: NodeRole;
  /** Current kubelet version, e.g. "v1.34.2". */
  readonly from?: string;
  /** Target version. */
  readonly to?: string;
  /** Worker chain index (0-based), for workers that need work. */
  readonly chain?: number;
  /** Ids of the steps that must complete before this one starts. */
  readonly dependsOn: readonly string[];
  /** The node's kubelet version now, when it is not `from` (a node this run already upgraded). */
  readonly current?: string;
  /** What this run already did on the node (see PlanNodeInput.progress). */
  readonly progress?: PlanNodeProgress["state"];
}

export interface UpgradePlan {
  readonly targetVersion: string;
  /** The control plane's version before the upgrade (its oldest control-plane node). */
  readonly controlPlaneVersion: string;
  /** Resolved number of parallel worker chains (>= 1). */
  readonly maxUnavailable: number;
  readonly failurePolicy: FailurePolicy;
  /** Steps in execution order (snapshot, control plane, workers round-robin over the chains, skips last). */
  readonly steps: readonly PlanStep[];
  /** Control-plane nodes that need work, in upgrade order. */
  readonly controlPlaneOrder: readonly string[];
  /** Worker chains: chains[c] lists the workers of chain c in order. */
  readonly chains: readonly (readonly string[])[];
  /** Nodes already at the target. */
  readonly skipped: readonly string[];
  /** Skew-policy warnings (errors throw). */
  readonly warnings: readonly SkewFinding[];
  readonly source?: PlanSource;
  readonly components?: readonly PlanComponent[];
  readonly unlisted?: readonly { name: string; role: NodeRole; kubeletVersion: string }[];
  readonly notes?: readonly string[];
}

const WHERE = "planUpgrade";

/**
 * Resolves maxUnavailable against the number of workers: counts as given (integer >= 1),
 * percentages of `workers` rounded down, at least 1. Throws ValidationError otherwise.
 */
export function resolveMaxUnavailable(
  value: number | string | undefined,
  workers: number,
  where = WHERE,
): number {
  if (value === undefined) return 1;
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 1) {
      throw new ValidationError(
        where,
        "maxUnavailable",
        value,
        "must be a whole number of workers, at least 1",
        'give a count such as 2 or a percentage such as "25%"',
      );
    }
    return value;
  }
  const m = typeof value === "string" ? /^(\d{1,3})%$/.exec(value.trim()) : null;
  const pct = m ? Number(m[1]) : NaN;
  if (!m || pct < 1 || pct > 100) {
    throw new ValidationError(
      where,
      "maxUnavailable",
      value,
      "must be a count >= 1 or a percentage between 1% and 100%",
      'give a count such as 2 or a percentage such as "25%"',
    );
  }
  return Math.max(1, Math.floor((workers * pct) / 100));
}

/** The input's problems (names, roles, policy, maxUnavailable, skew), all at once. */
function validatePlanInput(
  input: UpgradePlanInput,
  where: string,
): { failurePolicy: FailurePolicy; maxUnavailable: number; findings: SkewFinding[] } {
  if (!Array.isArray(input.nodes) || input.nodes.length === 0) {
    throw new ValidationError(
      where,
      "nodes",
      input.nodes,
      "no nodes to upgrade",
      "list the cluster's nodes with name and role",
    );
  }
  const problems = new ProblemCollector();
  nodeListProblems(input.nodes, where, problems);
  const failurePolicy = input.failurePolicy ?? "leave-cordoned";
  if (!FAILURE_POLICIES.includes(failurePolicy)) {
    problems.add(
      new ValidationError(
        where,
        "failurePolicy",
        failurePolicy,
        "unknown failure policy",
        `use one of ${FAILURE_POLICIES.map((p) => JSON.stringify(p)).join(", ")}`,
      ),
    );
  }
  const workerCount = input.nodes.filter((n) => n.role === "worker").length;
  const maxUnavailable =
    problems.collect(() => resolveMaxUnavailable(input.maxUnavailable, workerCount, where)) ?? 1;
  const findings = validateUpgrade({
    nodes: input.nodes,
    targetVersion: input.targetVersion,
    currentVersion: input.currentVersion,
  });
  // node names were checked above, with the index of each (validateUpgrade checks them too)
  for (const f of findings.filter((f) => f.severity === "error" && f.rule !== "node-name"))
    problems.add(skewFindingError(f, where));
  problems.throwIfAny();
  return { failurePolicy, maxUnavailable, findings };
}

/** Each node's name (a DNS name, listed once) and role; at least one control-plane node. */
function nodeListProblems(
  nodes: readonly PlanNodeInput[],
  where: string,
  problems: ProblemCollector,
): void {
  const seen = new Set<string>();
  nodes.forEach((n, i) => {
    problems.collect(() => validateDnsName(where, `nodes[${i}].name`, n.name));
    if (seen.has(n.name)) {
      problems.add(
        new ValidationError(
          where,
          `nodes[${i}].name`,
          n.name,
          "duplicate node name",
          "list every node once",
        ),
      );
    }
    seen.add(n.name);
    if (n.role !== "control-plane" && n.role !== "worker") {
      problems.add(
        new ValidationError(
          where,
          `nodes[${i}].role`,
          n.role,
          "unknown role",
          'use "control-plane" or "worker"',
        ),
      );
    }
  });
  if (!nodes.some((n) => n.role === "control-plane")) {
    problems.add(
      new ValidationError(
        where,
        "nodes",
        nodes.map((n) => n.name),
        "no control-plane node: kubeadm upgrades the control plane first",
        'list the control-plane nodes with role "control-plane" (the first one runs kubeadm upgrade apply)',
      ),
    );
  }
}

/** How the plan sees each (validated) node against the target. */
interface PlanView {
  readonly target: KubeVersion;
  readonly version: (n: PlanNodeInput) => KubeVersion;
  /** At the target and not a node this run upgraded (those keep their step until the run is over). */
  readonly atTarget: (n: PlanNodeInput) => boolean;
  /** The version the node's upgrade is from: the one recorded when this run drained it. */
  readonly fromOf: (n: PlanNodeInput) => string;
  readonly progressOf: (n: PlanNodeInput) => Partial<PlanStep>;
}

function planView(input: UpgradePlanInput): PlanView {
  const target = tryParseKubeVersion(input.targetVersion)!;
  const version = (n: PlanNodeInput): KubeVersion =>
    tryParseKubeVersion(n.version ?? input.currentVersion)!;
  const fromOf = (n: PlanNodeInput): string => {
    const recorded = tryParseKubeVersion(n.progress?.from);
    return recorded ? recorded.text : version(n).text;
  };
  return {
    target,
    version,
    atTarget: (n) =>
      compareKubeVersions(version(n), target) === 0 &&
      n.progress?.state !== "done" &&
      n.progress?.state !== "resume",
    fromOf,
    progressOf: (n) => {
      const from = fromOf(n);
      const now = version(n).text;
      return {
        ...(now !== from ? { current: now } : {}),
        ...(n.progress ? { progress: n.progress.state } : {}),
      };
    },
  };
}

/** The etcd snapshot and the control-plane steps, one after the other. */
function controlPlaneSteps(
  input: UpgradePlanInput,
  view: PlanView,
  workers: readonly PlanNodeInput[],
): { steps: PlanStep[]; skipSteps: PlanStep[]; todo: PlanNodeInput[]; last?: string } {
  const { target, version, atTarget, fromOf, progressOf } = view;
  const cps = input.nodes.filter((n) => n.role === "control-plane");
  const steps: PlanStep[] = [];
  const skipSteps: PlanStep[] = [];
  let last: string | undefined;
  const todo = cps.filter((n) => !atTarget(n));
  if ((input.etcdSnapshot ?? true) && (todo.length > 0 || workers.some((n) => !atTarget(n)))) {
    steps.push({
      id: "etcd-snapshot",
      action: "etcd-snapshot",
      node: cps[0]!.name,
      role: "control-plane",
      dependsOn: [],
    });
    last = "etcd-snapshot";
  }
  // `kubeadm upgrade apply` runs once per target, on the first control-plane node that needs
  // work, while the control plane is below the target (kubeadm's ClusterConfiguration when it was
  // read; else: no control-plane node at the target yet). A node this run drained keeps the mode
  // it was drained with.
  const applyDone =
    input.controlPlaneUpgraded ?? cps.some((n) => compareKubeVersions(version(n), target) === 0);
  const applyNode =
    applyDone || todo.some((n) => n.progress?.mode === "apply")
      ? undefined
      : todo.find((n) => n.progress?.mode === undefined);
  for (const n of cps) {
    if (atTarget(n)) {
      skipSteps.push(skipStep(n, version(n), target));
      continue;
    }
    const mode = n.progress?.mode ?? (n === applyNode ? "apply" : "node");
    const action: PlanAction = mode === "apply" ? "kubeadm-upgrade-apply" : "kubeadm-upgrade-node";
    const id = `node/${n.name}`;
    steps.push({
      id,
      action,
      node: n.name,
      role: n.role,
      from: fromOf(n),
      to: target.text,
      dependsOn: last ? [last] : [],
      ...progressOf(n),
    });
    last = id;
  }
  return { steps, skipSteps, todo, last };
}

/** The worker steps, round-robin over `maxUnavailable` chains that start after `last`. */
function workerSteps(
  workers: readonly PlanNodeInput[],
  view: PlanView,
  maxUnavailable: number,
  last: string | undefined,
): { steps: PlanStep[]; skipSteps: PlanStep[]; chains: string[][]; k: number } {
  const { target, version, atTarget, fromOf, progressOf } = view;
  const todo = workers.filter((n) => !atTarget(n));
  const k = Math.max(1, Math.min(maxUnavailable, todo.length));
  const chains: string[][] = Array.from({ length: Math.min(k, todo.length) }, () => []);
  const steps = todo.map((n, i): PlanStep => {
    const chain = i % k;
    const dependsOn = i >= k ? [`node/${todo[i - k]!.name}`] : last ? [last] : [];
    chains[chain]!.push(n.name);
    return {
      id: `node/${n.name}`,
      action: "kubeadm-upgrade-node",
      node: n.name,
      role: "worker",
      from: fromOf(n),
      to: target.text,
      chain,
      dependsOn,
      ...progressOf(n),
    };
  });
  const skipSteps = workers.filter(atTarget).map((n) => skipStep(n, version(n), target));
  return { steps, skipSteps, chains, k };
}

/** Builds the plan. Throws ValidationErrors listing every problem (input and skew errors). */
export function planUpgrade(input: UpgradePlanInput, where = WHERE): UpgradePlan {
  const { failurePolicy, maxUnavailable, findings } = validatePlanInput(input, where);
  const view = planView(input);
  const cps = input.nodes.filter((n) => n.role === "control-plane");
  const workers = input.nodes.filter((n) => n.role === "worker");
  const cp = controlPlaneSteps(input, view, workers);
  const w = workerSteps(workers, view, maxUnavailable, cp.last);
  return {
    targetVersion: view.target.text,
    controlPlaneVersion: cps.map(view.version).sort(compareKubeVersions)[0]!.text,
    maxUnavailable: w.k,
    failurePolicy,
    steps: [...cp.steps, ...w.steps, ...cp.skipSteps, ...w.skipSteps],
    controlPlaneOrder: cp.todo.map((n) => n.name),
    chains: w.chains,
    skipped: [...cps.filter(view.atTarget), ...workers.filter(view.atTarget)].map((n) => n.name),
    warnings: findings.filter((f) => f.severity === "warning"),
    ...(input.source ? { source: input.source } : {}),
    ...(input.components ? { components: input.components } : {}),
    ...(input.unlisted?.length ? { unlisted: input.unlisted } : {}),
    ...(input.notes?.length ? { notes: input.notes } : {}),
  };
}

function skipStep(n: PlanNodeInput, from: KubeVersion, to: KubeVersion): PlanStep {
  return {
    id: `node/${n.name}`,
    action: "skip",
    node: n.name,
    role: n.role,
    from: from.text,
    to: to.text,
    dependsOn: [],
  };
}

/** The ACTION column of a step. */
function actionText(plan: UpgradePlan, s: PlanStep): string {
  const kubeadm: Record<PlanAction, string> = {
    "etcd-snapshot": "etcd snapshot",
    "kubeadm-upgrade-apply": `kubeadm upgrade apply ${plan.targetVersion}`,
    "kubeadm-upgrade-node": "kubeadm upgrade node",
    skip: "up to date: not drained",
  };
  const base = kubeadm[s.action];
  switch (s.progress) {
    case "done":
      return `${base} (done by this run)`;
    case "resume":
      return `${base} (upgraded by this run: resume at the ready wait)`;
    case "started":
      return `${base} (drained by this run: upgrade again)`;
    default:
      return base;
  }
}

/** Where the versions come from, as the plan's second line. */
export function planSourceText(source: PlanSource | undefined): string | undefined {
  if (!source) return undefined;
  if (source.kind === "declared")
    return `Versions as declared (currentVersion / nodes[].version): the cluster was not read (${source.reason}); the plan may not match the cluster`;
  const parts = [
    source.server ? `${source.server}` : undefined,
    source.apiserverVersion ? `kube-apiserver ${source.apiserverVersion}` : undefined,
    source.kubeadmVersion ? `kubeadm ClusterConfiguration ${source.kubeadmVersion}` : undefined,
    `${source.nodes} node(s)`,
  ].filter(Boolean);
  return `Versions from the cluster (read now: ${parts.join(", ")})`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ");
  return [line(header), ...rows.map(line)];
}

/**
 * Renders the plan as a table, in the spirit of `kubeadm upgrade plan`:
 *
 * ```
 * Upgrade plan: control plane v1.34.2 -> v1.35.4, workers 2 at a time (failure policy: leave-cordoned)
 * Versions from the cluster (read now: https://10.0.0.10:6443, kube-apiserver v1.34.2, ...)
 *
 * STEP  NODE     ROLE           CURRENT  TARGET   ACTION                 AFTER
 * 1     cp-1     control-plane  -        -        etcd-snapshot          -
 * 2     cp-1     control-plane  v1.34.2  v1.35.4  kubeadm upgrade apply  etcd-snapshot
 * ...
 *
 * COMPONENT                NODE  CURRENT  TARGET
 * kube-apiserver           cp-1  v1.34.2  v1.35.4
 * ...
 * ```
 *
 * CURRENT is the node's kubelet version now; a node this run already upgraded shows it (and the
 * step keeps the version it was upgraded from). The second line, the components and the nodes
 * not in the roll are shown when the plan has them (the live plan).
 */
export function formatPlan(plan: UpgradePlan): string {
  const header = ["STEP", "NODE", "ROLE", "CURRENT", "TARGET", "ACTION", "CHAIN", "AFTER"];
  const rows = plan.steps.map((s, i) => [
    String(i + 1),
    s.node ?? "-",
    s.role ?? "-",
    s.action === "etcd-snapshot" ? "-" : (s.current ?? s.from ?? "-"),
    s.to ?? "-",
    actionText(plan, s),
    s.chain === undefined ? "-" : String(s.chain + 1),
    s.dependsOn.length ? s.dependsOn.map((d) => d.replace(/^node\//, "")).join(",") : "-",
  ]);
  const source = planSourceText(plan.source);
  const out = [
    `Upgrade plan: control plane ${plan.controlPlaneVersion} -> ${plan.targetVersion}, ` +
      `workers ${plan.maxUnavailable} at a time in ${plan.chains.length} chain(s) ` +
      `(failure policy: ${plan.failurePolicy})`,
    ...(source ? [source] : []),
    "",
    ...table(header, rows),
  ];
  if (plan.components?.length) {
    out.push(
      "",
      ...table(
        ["COMPONENT", "NODE", "CURRENT", "TARGET"],
        plan.components.map((c) => [c.component, c.where, c.current, c.target]),
      ),
    );
  }
  if (plan.unlisted?.length) {
    out.push("", "Not in the roll (allowUnlistedNodes; left at their version):");
    for (const n of plan.unlisted) out.push(`  ${n.name}  ${n.role}  ${n.kubeletVersion}`);
  }
  if (plan.warnings.length > 0 || plan.notes?.length) {
    out.push("", "Warnings:");
    for (const w of plan.warnings) out.push(`  [${w.rule}] ${w.message}`);
    for (const n of plan.notes ?? []) out.push(`  ${n}`);
  }
  return out.join("\n");
}

/** The plan table, then what `verify` will check (so that preview shows it too). */
export function formatPlanWithVerification(
  plan: UpgradePlan,
  verify: boolean | undefined,
  name: string,
): string {
  const text = formatPlan(plan);
  const upgraded = plan.steps.filter((s) => s.node !== undefined && s.action !== "skip");
  if (upgraded.length === 0) return text;
  if (verify === false) return `${text}\n\nVerification: off (verify: false)`;
  const cps = upgraded
    .filter((s) => s.role === "control-plane" && s.action !== "etcd-snapshot")
    .map((s) => s.node);
  const to = plan.targetVersion;
  return [
    text,
    "",
    "Verification (verify):",
    ...(cps.length
      ? [
          `  after each of ${cps.join(", ")}: its kube-apiserver, kube-controller-manager, kube-scheduler and etcd pods Ready (the first three at ${to}) and its /readyz all ok (${name}-<node>-health)`,
        ]
      : []),
    `  after the last node: every node Ready at ${to}, kube-proxy at ${to} and CoreDNS rolled out, the API server's /version ${to} (${name}-verify)`,
  ].join("\n");
}
