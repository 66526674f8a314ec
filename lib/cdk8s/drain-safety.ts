import { ApiObject, App } from "cdk8s";
import { Construct, IConstruct } from "constructs";
import { ValidationError } from "../core/errors";
import {
  alwaysBlocksDrain,
  checkBudget,
  checkLabelSelector,
  DisruptionBudget,
  disruptionsAllowedAtFullHealth,
  isEmptySelector,
  LabelSelector,
  labelSelectorMatcher,
  needsControllerScale,
  throwValidationErrors,
} from "../core/pdb";
import { childPath } from "./construct-path";
import * as msg from "./drain-safety-messages";
import type { FindingText } from "./drain-safety-messages";

/**
 * Findings that are errors unless downgraded. `pdb-unscalable` is one of them: an error when a
 * drain would evict the pods (Job, CronJob, bare Pod), a warning when they are only DaemonSet pods.
 */
export const DRAIN_SAFETY_ERROR_CODES = [
  "pdb-blocks-drain",
  "pdb-overlap",
  "pdb-invalid",
  "pdb-unscalable",
] as const;
/** Findings that are always warnings. */
export const DRAIN_SAFETY_WARNING_CODES = ["pdb-selects-nothing", "pdb-empty-selector"] as const;

/** A code of {@link checkDrainSafety} that can be an error; these can be downgraded. */
export type DrainSafetyErrorCode = (typeof DRAIN_SAFETY_ERROR_CODES)[number];
/** A warning code of {@link checkDrainSafety}. */
export type DrainSafetyWarningCode = (typeof DRAIN_SAFETY_WARNING_CODES)[number];
/** Every finding code. */
export type DrainSafetyCode = DrainSafetyErrorCode | DrainSafetyWarningCode;

/** One problem found by {@link checkDrainSafety}. */
export interface Finding {
  /** `error` fails synth (through {@link DrainSafety}); `warning` is reported only. */
  readonly severity: "error" | "warning";
  /**
   * - `pdb-blocks-drain` (error): the PDB allows no disruption even when every pod is healthy.
   * - `pdb-overlap` (error): a workload's pods are selected by more than one PDB; the Eviction
   *   API then answers HTTP 500 "This pod has more than one PodDisruptionBudget".
   * - `pdb-invalid` (error): a PDB object the API server would reject (raw objects only; the
   *   `PodDisruptionBudget` construct throws at construction instead).
   * - `pdb-selects-nothing` (warning): no workload in the checked scope carries the labels.
   * - `pdb-empty-selector` (warning): `selector: {}` selects every pod in the namespace.
   * - `pdb-unscalable`: maxUnavailable or a percentage over pods without a scalable controller
   *   (DaemonSet, Job, CronJob, bare Pod): their evictions are refused. An error when a drain
   *   would evict such pods (Job, CronJob, bare Pod with `--force`); a warning when they are
   *   only DaemonSet pods, which a drain with ignoreDaemonSets (kube-upkeep's upgrade default,
   *   as in the kubeadm guide) leaves alone.
   */
  readonly code: DrainSafetyCode;
  /** `metadata.name` of the PDB (for `pdb-overlap`: the first one, see `pdbs`). */
  readonly pdb: string;
  /** Every PDB involved (one, or several for `pdb-overlap`). */
  readonly pdbs: readonly string[];
  /** Namespace of the PDB (undefined: none set, the one `kubectl apply` uses). */
  readonly namespace?: string;
  /** Construct path of the PDB (for `pdb-overlap`: of the first one). */
  readonly path: string;
  /** The workloads involved, as `Kind/name`. */
  readonly workloads: readonly string[];
  /** What is wrong, with the names involved and the fix (`... Fix: <fix>.`). */
  readonly message: string;
  /** How to fix it, one actionable sentence (as a ValidationError's `fix`). */
  readonly fix: string;
  /** True when an error was turned into a warning by the `downgrade` option. */
  readonly downgraded?: boolean;
}

/** Turns a named error into a warning. */
export interface DrainSafetyDowngrade {
  /** The error code to downgrade. */
  readonly code: DrainSafetyErrorCode;
  /**
   * Only for this PDB: its `metadata.name`, `namespace/name`, or construct path.
   *
   * @default - every PDB
   */
  readonly pdb?: string;
  /**
   * Why it is acceptable; appended to the message of the downgraded finding.
   *
   * @default - no reason recorded
   */
  readonly reason?: string;
}

/** Options of {@link checkDrainSafety} and {@link DrainSafety}. */
export interface DrainSafetyOptions {
  /**
   * Errors the user accepts, reported as warnings instead, e.g. a singleton database whose
   * `minAvailable: 1` deliberately blocks drains until an operator moves it by hand:
   * `downgrade: [{ code: "pdb-blocks-drain", pdb: "postgres", reason: "moved by hand" }]`.
   *
   * @default - no downgrade: every error fails synth
   */
  readonly downgrade?: readonly DrainSafetyDowngrade[];
}

/** Options of the {@link DrainSafety} construct. */
export interface DrainSafetyProps extends DrainSafetyOptions {
  /**
   * Called with the warnings when the check runs at synth (once per distinct set).
   *
   * @default - each warning printed with console.warn
   */
  readonly onWarnings?: (warnings: readonly Finding[]) => void;
}

/** Workload kinds whose pods a PDB can protect. */
const WORKLOAD_KINDS = [
  "Deployment",
  "StatefulSet",
  "ReplicaSet",
  "ReplicationController",
  "DaemonSet",
  "Job",
  "CronJob",
  "Pod",
] as const;
/** Kinds the disruption controller can read a scale from (its finders). */
const SCALABLE_KINDS = ["Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"];

/** The parts of a manifest the check reads. */
interface ManifestSpec {
  readonly replicas?: unknown;
  readonly parallelism?: unknown;
  readonly completions?: unknown;
  readonly template?: { readonly metadata?: { readonly labels?: Record<string, string> } };
  readonly jobTemplate?: { readonly spec?: ManifestSpec };
  readonly selector?: LabelSelector | null;
  readonly minAvailable?: number | string;
  readonly maxUnavailable?: number | string;
  readonly unhealthyPodEvictionPolicy?: string;
}
interface Manifest {
  readonly kind?: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
  };
  readonly spec?: ManifestSpec;
}

interface Workload {
  readonly kind: string;
  readonly name: string;
  readonly label: string;
  readonly namespace: string;
  readonly podLabels: Record<string, string>;
  /** Pods at full health; undefined when not known at synth (DaemonSet: one per node). */
  readonly replicas?: number;
  readonly scalable: boolean;
}

interface Pdb {
  readonly name: string;
  readonly namespace: string;
  readonly path: string;
  readonly selector: LabelSelector | null | undefined;
  readonly budget?: DisruptionBudget;
}

const hasOwn = Object.prototype.hasOwnProperty;
const nsKey = (ns: unknown) => (typeof ns === "string" ? ns : "");

function apiObjectsIn(scope: IConstruct): ApiObject[] {
  return scope.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject);
}

// ---------------------------------------------------------------------------------------------
// One check per synth.
//
// cdk8s's App.synth() (and synthYaml()) validates the whole app once, then again before writing
// each chart (App._synthChart resolves and validates the app): every DrainSafety's validation runs
// charts + 1 times, each time over a tree that cannot have changed, because only cdk8s runs
// between those passes (the tree is complete before synth starts). So while an App.synth() of the
// app runs, a DrainSafety computes its findings once and returns them on the later passes, and
// every ApiObject's manifest (toJson(), the costly part: resolving and sanitizing) is rendered
// once for all DrainSafety constructs. Both caches end with that synth: a synth after a change
// (constructs added, props or patches changed) checks again, as do Testing.synth(chart),
// chart.toJson() and findings() outside an App.synth() (one validation pass each).

/** Nesting depth of App.synth()/synthYaml() calls of apps holding a DrainSafety. */
let synthDepth = 0;
/** Numbers each outermost synth; a cached result is valid only within its own. */
let synthEpoch = 0;
/** Manifests rendered during the current synth (undefined outside one). */
let manifests: Map<ApiObject, Manifest> | undefined;
const hookedApps = new WeakSet<object>();

/** Runs one synth of an app with the per-synth caches on. */
function duringSynth<T>(run: () => T): T {
  if (synthDepth++ === 0) {
    synthEpoch++;
    manifests = new Map();
  }
  try {
    return run();
  } finally {
    if (--synthDepth === 0) manifests = undefined;
  }
}

/**
 * Wraps `synth` and `synthYaml` of the app (this instance only; once per app) so that the per-synth
 * caches know when a synth starts and ends. A root that is not a cdk8s App (or another copy of
 * cdk8s's App) is left alone: every pass then checks again, as before.
 */
function watchSynth(root: IConstruct): void {
  if (!(root instanceof App) || hookedApps.has(root)) return;
  hookedApps.add(root);
  for (const method of ["synth", "synthYaml"] as const) {
    const original = root[method] as (...args: unknown[]) => unknown;
    if (typeof original !== "function") continue;
    Object.defineProperty(root, method, {
      configurable: true,
      writable: true,
      value: function (this: App, ...args: unknown[]) {
        return duringSynth(() => original.apply(this, args));
      },
    });
  }
}

/** The object's manifest, rendered once per synth (every time outside one). */
function manifestOf(o: ApiObject): Manifest {
  if (!manifests) return o.toJson();
  let m = manifests.get(o);
  if (m === undefined) {
    m = o.toJson() as Manifest;
    manifests.set(o, m);
    shareWithWriter(o);
  }
  return m;
}

/**
 * Makes cdk8s's writer use the manifest rendered for the check during this synth instead of
 * rendering the object a second time (chart.toJson() calls each object's toJson()): so the check
 * reads exactly what is written, and rendering, the bulk of a synth, is not done twice. An own,
 * non-enumerable toJson on the object that answers from the current synth's manifests and renders
 * as before outside a synth or for an object not rendered in it. Neither side modifies the
 * manifest. An object with an own toJson already (installed earlier, or the user's) is left alone.
 */
function shareWithWriter(o: ApiObject): void {
  if (hasOwn.call(o, "toJson")) return;
  const render = o.toJson;
  Object.defineProperty(o, "toJson", {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function toJson(this: ApiObject) {
      const m = manifests?.get(this);
      return m !== undefined ? m : render.call(this);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Which workloads a PDB selects, without comparing every PDB with every workload.

const NONE: readonly number[] = [];
const labelKey = (k: string, v: unknown) => `${k}\u0000${String(v)}`;

interface NamespaceIndex {
  /** Positions (in check order) of the namespace's workloads. */
  readonly all: number[];
  /** "key\0value" -> positions of the workloads whose pods carry that label. */
  readonly byLabel: Map<string, number[]>;
  /** key -> positions of the workloads whose pods carry the key. */
  readonly byKey: Map<string, number[]>;
}

/**
 * The workloads by namespace and pod label. A PDB's candidates are the shortest list its selector
 * allows (one matchLabels pair, an In or Exists expression), which the full selector then filters:
 * near-linear for the usual one-PDB-per-workload app instead of PDBs x workloads.
 */
class WorkloadIndex {
  private readonly byNs = new Map<string, NamespaceIndex>();

  constructor(private readonly workloads: readonly Workload[]) {
    workloads.forEach((w, i) => {
      let ns = this.byNs.get(w.namespace);
      if (!ns) {
        ns = { all: [], byLabel: new Map(), byKey: new Map() };
        this.byNs.set(w.namespace, ns);
      }
      ns.all.push(i);
      const labels = w.podLabels;
      for (const k in labels) {
        if (!hasOwn.call(labels, k)) continue;
        push(ns.byLabel, labelKey(k, labels[k]), i);
        push(ns.byKey, k, i);
      }
    });
  }

  /** The workloads of `namespace` whose pods `selector` selects, in check order. */
  selectedBy(namespace: string, selector: LabelSelector | null | undefined): Workload[] {
    if (selector === null || selector === undefined) return [];
    const ns = this.byNs.get(namespace);
    if (!ns) return [];
    let candidates: readonly number[] = ns.all;
    const consider = (list: readonly number[]) => {
      if (list.length < candidates.length) candidates = list;
    };
    const ml = selector.matchLabels ?? {};
    for (const k in ml) {
      if (hasOwn.call(ml, k)) consider(ns.byLabel.get(labelKey(k, ml[k])) ?? NONE);
    }
    for (const req of selector.matchExpressions ?? []) {
      if (req.operator === "Exists") consider(ns.byKey.get(req.key) ?? NONE);
      else if (req.operator === "In") {
        const lists = (req.values ?? []).map((v) => ns.byLabel.get(labelKey(req.key, v)) ?? NONE);
        const size = lists.reduce((n, l) => n + l.length, 0);
        // one value per key per workload: the lists are disjoint, so the union is their sum
        if (size < candidates.length) consider([...new Set(lists.flat())].sort((a, b) => a - b));
      }
    }
    const matches = labelSelectorMatcher(selector);
    const out: Workload[] = [];
    for (const i of candidates) {
      const w = this.workloads[i];
      if (matches(w.podLabels)) out.push(w);
    }
    return out;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

function toWorkload(o: ApiObject, json: Manifest): Workload | undefined {
  const kind = String(json.kind);
  if (!(WORKLOAD_KINDS as readonly string[]).includes(kind)) return undefined;
  const name = String(json.metadata?.name ?? o.name);
  const spec: ManifestSpec = json.spec ?? {};
  let podLabels: Record<string, string> | undefined;
  let replicas: number | undefined;
  switch (kind) {
    case "Pod":
      podLabels = json.metadata?.labels;
      replicas = 1;
      break;
    case "CronJob": {
      const job: ManifestSpec = spec.jobTemplate?.spec ?? {};
      podLabels = job.template?.metadata?.labels;
      replicas = jobPods(job);
      break;
    }
    case "Job":
      podLabels = spec.template?.metadata?.labels;
      replicas = jobPods(spec);
      break;
    case "DaemonSet":
      podLabels = spec.template?.metadata?.labels;
      replicas = undefined;
      break;
    default:
      podLabels = spec.template?.metadata?.labels;
      replicas = typeof spec.replicas === "number" ? spec.replicas : 1; // API default 1
  }
  return {
    kind,
    name,
    label: `${kind}/${name}`,
    namespace: nsKey(json.metadata?.namespace),
    podLabels: podLabels ?? {},
    replicas,
    scalable: SCALABLE_KINDS.includes(kind),
  };
}

/** Pods a Job runs at once: parallelism (default 1), at most completions. */
function jobPods(spec: ManifestSpec): number {
  const parallelism = typeof spec.parallelism === "number" ? spec.parallelism : 1;
  return typeof spec.completions === "number"
    ? Math.min(parallelism, spec.completions)
    : parallelism;
}

function toPdb(o: ApiObject, json: Manifest, findings: Finding[]): Pdb {
  const name = String(json.metadata?.name ?? o.name);
  const namespace = nsKey(json.metadata?.namespace);
  const path = o.node.scope?.node.defaultChild === o ? o.node.scope.node.path : o.node.path;
  const spec: ManifestSpec = json.spec ?? {};
  const where = `${path} (PodDisruptionBudget ${name})`;
  const { budget, errors } = checkBudget(where, spec);
  if (spec.selector !== undefined && spec.selector !== null)
    errors.push(...checkLabelSelector(where, "spec.selector", spec.selector));
  if (
    spec.unhealthyPodEvictionPolicy !== undefined &&
    !["AlwaysAllow", "IfHealthyBudget"].includes(spec.unhealthyPodEvictionPolicy)
  )
    errors.push(
      new ValidationError(
        where,
        "spec.unhealthyPodEvictionPolicy",
        spec.unhealthyPodEvictionPolicy,
        "must be AlwaysAllow or IfHealthyBudget",
        'use "AlwaysAllow"',
      ),
    );
  for (const e of errors)
    findings.push({
      severity: "error",
      code: "pdb-invalid",
      pdb: name,
      pdbs: [name],
      namespace: namespace || undefined,
      path,
      workloads: [],
      ...msg.invalid(e),
    });
  return { name, namespace, path, selector: spec.selector, budget };
}

function finding(
  severity: Finding["severity"],
  code: DrainSafetyCode,
  pdb: Pdb,
  workloads: readonly Workload[],
  text: FindingText,
): Finding {
  return {
    severity,
    code,
    pdb: pdb.name,
    pdbs: [pdb.name],
    namespace: pdb.namespace || undefined,
    path: pdb.path,
    workloads: workloads.map((w) => w.label),
    message: text.message,
    fix: text.fix,
  };
}

function validateDowngrades(
  where: string,
  downgrade: readonly DrainSafetyDowngrade[] | undefined,
): void {
  const errors: ValidationError[] = [];
  (downgrade ?? []).forEach((d, i) => {
    if (!(DRAIN_SAFETY_ERROR_CODES as readonly string[]).includes(d?.code))
      errors.push(
        new ValidationError(
          where,
          `downgrade[${i}].code`,
          d?.code,
          (DRAIN_SAFETY_WARNING_CODES as readonly string[]).includes(d?.code)
            ? "is already a warning"
            : "is not a DrainSafety error code",
          `use one of ${DRAIN_SAFETY_ERROR_CODES.join(", ")}`,
        ),
      );
    if (d?.pdb !== undefined && (typeof d.pdb !== "string" || d.pdb.length === 0))
      errors.push(
        new ValidationError(
          where,
          `downgrade[${i}].pdb`,
          d.pdb,
          "must be a non-empty PDB name",
          "give the PDB's metadata.name, namespace/name or construct path, or omit it to match every PDB",
        ),
      );
  });
  throwValidationErrors(errors);
}

function applyDowngrades(
  findings: Finding[],
  downgrade: readonly DrainSafetyDowngrade[],
  pdbs: readonly Pdb[],
): Finding[] {
  if (downgrade.length === 0) return findings;
  const byName = new Map<string, Pdb[]>();
  for (const p of pdbs) push(byName, p.name, p);
  return findings.map((f) => {
    if (f.severity !== "error") return f;
    const ns = nsKey(f.namespace);
    const rule = downgrade.find((d) => {
      if (d.code !== f.code) return false;
      if (d.pdb === undefined) return true;
      return [...new Set(f.pdbs)].some((name) =>
        (byName.get(name) ?? []).some(
          (p) =>
            ns === p.namespace &&
            (d.pdb === p.name || d.pdb === `${p.namespace}/${p.name}` || d.pdb === p.path),
        ),
      );
    });
    if (!rule) return f;
    return {
      ...f,
      severity: "warning",
      downgraded: true,
      message: msg.downgradedMessage(f.message, rule.reason),
    };
  });
}

/**
 * Checks every PodDisruptionBudget under `scope` (a Chart, an App, or any construct) against the
 * workloads in the same namespace under `scope` and returns the findings (errors first).
 * PDBs are recognized by kind, so raw `k8s.KubePodDisruptionBudget` objects and included YAML
 * count as well as the {@link PodDisruptionBudget} construct.
 *
 * Errors: `pdb-blocks-drain`, `pdb-overlap`, `pdb-invalid`, `pdb-unscalable` (a warning when it
 * concerns only DaemonSet pods); warnings: `pdb-selects-nothing`, `pdb-empty-selector` (see
 * {@link Finding.code}).
 */
export function checkDrainSafety(scope: IConstruct, options: DrainSafetyOptions = {}): Finding[] {
  validateDowngrades(scope.node.path || "checkDrainSafety", options.downgrade);
  const findings: Finding[] = [];
  const { pdbs, workloads } = collect(scope, findings);
  const index = new WorkloadIndex(workloads);
  const selectedBy = new Map<Workload, Pdb[]>();
  for (const pdb of pdbs) {
    const matched = index.selectedBy(pdb.namespace, pdb.selector);
    for (const w of matched) push(selectedBy, w, pdb);
    const warning = selectorFinding(pdb, matched, scope.node.path || "the app");
    if (warning) findings.push(warning);
    if (pdb.budget) findings.push(...budgetFindings(pdb, pdb.budget, matched));
  }
  findings.push(...overlapFindings(selectedBy));
  const result = applyDowngrades(findings, options.downgrade ?? [], pdbs);
  const errors = result.filter((f) => f.severity === "error");
  return errors.length === result.length
    ? errors
    : [...errors, ...result.filter((f) => f.severity === "warning")];
}

/** The PDBs and workloads under `scope`; a PDB the API server would reject adds pdb-invalid. */
function collect(scope: IConstruct, findings: Finding[]): { pdbs: Pdb[]; workloads: Workload[] } {
  const workloads: Workload[] = [];
  const pdbs: Pdb[] = [];
  for (const o of apiObjectsIn(scope)) {
    const json = manifestOf(o);
    if (json?.kind === "PodDisruptionBudget") pdbs.push(toPdb(o, json, findings));
    else {
      const w = toWorkload(o, json);
      if (w) workloads.push(w);
    }
  }
  return { pdbs, workloads };
}

/** The selector's warning: null, `{}`, or matching no workload under the checked scope. */
function selectorFinding(
  pdb: Pdb,
  matched: readonly Workload[],
  scopePath: string,
): Finding | undefined {
  const ns = msg.namespaceText(pdb.namespace);
  if (pdb.selector === null || pdb.selector === undefined)
    return finding("warning", "pdb-selects-nothing", pdb, [], msg.nullSelector(pdb.name, ns));
  if (isEmptySelector(pdb.selector))
    return finding(
      "warning",
      "pdb-empty-selector",
      pdb,
      matched,
      msg.emptySelector(pdb.name, ns, matched),
    );
  if (matched.length === 0)
    return finding(
      "warning",
      "pdb-selects-nothing",
      pdb,
      [],
      msg.selectsNothing(pdb.name, ns, scopePath, pdb.selector),
    );
  return undefined;
}

/** pdb-unscalable and pdb-blocks-drain: the budget over the workloads the PDB selects. */
function budgetFindings(
  pdb: Pdb,
  budget: DisruptionBudget,
  matched: readonly Workload[],
): Finding[] {
  const out: Finding[] = [];
  const unscalable = matched.filter((w) => !w.scalable);
  const scalable = unscalable.length === 0 ? matched : matched.filter((w) => w.scalable);
  const scaled = needsControllerScale(budget);
  if (scaled && unscalable.length > 0) {
    // a drain evicts Job / CronJob pods (and bare pods with --force), and those evictions are
    // refused until the drain times out; DaemonSet pods are skipped by --ignore-daemonsets
    const evicted = unscalable.filter((w) => w.kind !== "DaemonSet");
    out.push(
      finding(
        evicted.length > 0 ? "error" : "warning",
        "pdb-unscalable",
        pdb,
        unscalable,
        msg.unscalable(pdb.name, budget, unscalable, evicted),
      ),
    );
  }
  const ns = msg.namespaceText(pdb.namespace);
  if (alwaysBlocksDrain(budget)) {
    out.push(
      finding(
        "error",
        "pdb-blocks-drain",
        pdb,
        matched,
        msg.alwaysBlocks(pdb.name, ns, budget, matched),
      ),
    );
    return out;
  }
  // with a scale, the controller counts only the scalable workloads' pods; a DaemonSet's count
  // (one per eligible node) is not known at synth, so an integer budget over one is not judged
  const counted = scaled ? scalable : matched;
  const replicas =
    !scaled && counted.some((w) => w.replicas === undefined)
      ? undefined
      : counted.reduce((n, w) => n + (w.replicas ?? 0), 0);
  if (
    replicas !== undefined &&
    replicas > 0 &&
    counted.length > 0 &&
    disruptionsAllowedAtFullHealth(budget, replicas) === 0
  )
    out.push(
      finding(
        "error",
        "pdb-blocks-drain",
        pdb,
        counted,
        msg.blocksAtReplicas(pdb.name, ns, budget, counted, replicas),
      ),
    );
  return out;
}

/** pdb-overlap: one finding per set of PDBs that select the same workloads. */
function overlapFindings(selectedBy: ReadonlyMap<Workload, Pdb[]>): Finding[] {
  const groups = new Map<string, { pdbs: Pdb[]; workloads: Workload[] }>();
  for (const [w, ps] of selectedBy) {
    if (ps.length < 2) continue;
    const key = ps.map((p) => p.path).join("\u0000");
    const g = groups.get(key) ?? { pdbs: ps, workloads: [] };
    g.workloads.push(w);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const names = g.pdbs.map((p) => p.name);
    const text = msg.overlap(names, msg.namespaceText(g.pdbs[0].namespace), g.workloads);
    return { ...finding("error", "pdb-overlap", g.pdbs[0], g.workloads, text), pdbs: names };
  });
}

/**
 * Runs {@link checkDrainSafety} over its parent scope (a Chart, or the App to check across
 * charts) when the app is synthesized (`app.synth()`, `Testing.synth`, `chart.toJson()`):
 * every error fails synth, all listed at once; warnings go to `onWarnings`. Within one
 * `App.synth()` the check runs once, although cdk8s validates the app once per chart (see "One
 * check per synth" above); each later synth checks again.
 *
 * @example
 * new DrainSafety(chart, "drain-safety");
 * // accept one deliberate blocker:
 * new DrainSafety(app, "drain-safety", {
 *   downgrade: [{ code: "pdb-blocks-drain", pdb: "postgres", reason: "single primary, moved by hand" }],
 * });
 */
export class DrainSafety extends Construct {
  /** The construct that is checked (the parent scope). */
  public readonly target: IConstruct;
  /** The accepted downgrades. */
  public readonly downgrade: readonly DrainSafetyDowngrade[];

  constructor(scope: Construct, id: string, props: DrainSafetyProps = {}) {
    // before super(): a bad option leaves no empty construct behind (the id stays usable)
    validateDowngrades(childPath(scope, id), props.downgrade);
    super(scope, id);
    this.target = scope;
    watchSynth(this.node.root);
    this.downgrade = [...(props.downgrade ?? [])];
    const onWarnings =
      props.onWarnings ??
      ((ws: readonly Finding[]) => {
        for (const w of ws) console.warn(msg.warningLine(w.code, w.message));
      });
    let reported = "";
    this.node.addValidation({
      validate: () => {
        const findings = this.findingsOfThisSynth();
        const warnings = findings.filter((f) => f.severity === "warning");
        const key = warnings.map((w) => w.message).join("\n");
        if (warnings.length > 0 && key !== reported) {
          reported = key;
          onWarnings(warnings);
        }
        return findings
          .filter((f) => f.severity === "error")
          .map((f) => msg.synthErrorLine(f.code, f.message));
      },
    });
  }

  /** Runs the check now and returns every finding. */
  public findings(): Finding[] {
    return checkDrainSafety(this.target, { downgrade: this.downgrade });
  }

  private cached?: { readonly epoch: number; readonly findings: Finding[] };

  /** findings(), computed once per App.synth() of the app (every time outside one). */
  private findingsOfThisSynth(): Finding[] {
    if (synthDepth === 0) return this.findings();
    if (this.cached?.epoch !== synthEpoch) {
      this.cached = { epoch: synthEpoch, findings: this.findings() };
    }
    return this.cached.findings;
  }
}
