/**
 * Kubernetes versions and the version skew policy, on `semver`.
 *
 * The skew numbers follow the upstream policy (https://kubernetes.io/releases/version-skew-policy/):
 *
 * | component                               | allowed relative to kube-apiserver N             |
 * | --------------------------------------- | ------------------------------------------------ |
 * | kube-apiserver (other HA instances)     | N or N-1 (newest and oldest within one minor)    |
 * | kube-controller-manager, kube-scheduler | N or N-1, never newer                            |
 * | kubelet, kube-proxy                     | N down to N-3 (N-2 for a kubelet older than 1.25)|
 * | kubectl                                 | N+1, N, N-1                                      |
 *
 * The field guide this project grew from still says kubelet N-2; that was the policy before
 * Kubernetes 1.28 (KEP-3935 widened it to N-3 for kubelets >= 1.25). kube-upkeep uses upstream.
 *
 * kubeadm adds one rule of its own: the control plane moves one minor version at a time
 * ("Skipping MINOR versions when upgrading is unsupported").
 */
import * as semver from "semver";
import { ValidationError, ValidationErrors } from "./errors";
import { validateDnsName } from "./scripts/shell";

/** A parsed Kubernetes version (always printed with a leading "v", like `kubeadm` does). */
export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Pre-release identifiers, e.g. ["rc", 1] for v1.36.0-rc.1. Empty for releases. */
  readonly prerelease: readonly (string | number)[];
  /** Canonical text, e.g. "v1.35.4". */
  readonly text: string;
  /** The same without the "v", e.g. "1.35.4" (what package versions start with). */
  readonly semver: string;
}

/** Returns the parsed version, or undefined when `value` is not an exact Kubernetes version. */
export function tryParseKubeVersion(value: unknown): KubeVersion | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  if (!/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(trimmed)) return undefined;
  const parsed = semver.parse(trimmed.replace(/^v/, ""));
  if (!parsed) return undefined;
  return {
    major: parsed.major,
    minor: parsed.minor,
    patch: parsed.patch,
    prerelease: parsed.prerelease,
    text: `v${parsed.version}`,
    semver: parsed.version,
  };
}

/**
 * Parses "v1.35.4" or "1.35.4" (pre-releases such as "v1.36.0-rc.1" too). Throws a
 * ValidationError for anything else, including a bare minor such as "1.35": kubeadm upgrades to
 * an exact patch release.
 */
export function parseKubeVersion(
  value: unknown,
  where = "parseKubeVersion",
  field = "version",
): KubeVersion {
  const v = tryParseKubeVersion(value);
  if (!v) {
    throw new ValidationError(
      where,
      field,
      value,
      "not an exact Kubernetes version",
      'write it as "v1.35.4" (major.minor.patch, optional leading "v")',
    );
  }
  return v;
}

/** semver comparison: negative when a < b, 0 when equal, positive when a > b. */
export function compareKubeVersions(a: KubeVersion, b: KubeVersion): number {
  return semver.compare(a.semver, b.semver);
}

/** How many minor versions `newer` is ahead of `older` (negative when it is behind; majors count as 100 minors). */
export function minorDistance(older: KubeVersion, newer: KubeVersion): number {
  return (newer.major - older.major) * 100 + (newer.minor - older.minor);
}

/** "v1.35" for a version. */
export function minorText(v: KubeVersion): string {
  return `v${v.major}.${v.minor}`;
}

/** The skew policy as data (upstream numbers; see the module comment). */
export const SKEW_POLICY = {
  /** HA kube-apiserver instances: newest and oldest within this many minors. */
  apiserverHa: 1,
  /** kube-controller-manager, kube-scheduler, cloud-controller-manager: this many minors older, never newer. */
  controlPlaneComponentsOlder: 1,
  /** kubelet / kube-proxy: this many minors older than kube-apiserver, never newer (since 1.28). */
  kubeletOlder: 3,
  /** kubelet / kube-proxy older than this minor may only be `kubeletOlderLegacy` minors behind. */
  kubeletLegacyBelowMinor: 25,
  kubeletOlderLegacy: 2,
  /** kubectl: this many minors either side of kube-apiserver. */
  kubectlEitherSide: 1,
  /** kubeadm upgrades the control plane this many minors per step. */
  controlPlaneStep: 1,
} as const;

/** The Kubernetes components the skew policy talks about. */
export type KubeComponent =
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "kubelet"
  | "kube-proxy"
  | "kubectl";

/** How many minors a kubelet (or kube-proxy) of this version may lag behind kube-apiserver. */
export function maxKubeletSkew(kubelet: KubeVersion): number {
  return kubelet.major === 1 && kubelet.minor < SKEW_POLICY.kubeletLegacyBelowMinor
    ? SKEW_POLICY.kubeletOlderLegacy
    : SKEW_POLICY.kubeletOlder;
}

/**
 * Whether `component` at `version` is supported next to kube-apiserver at `apiserver`.
 * Returns undefined when it is, or a sentence saying why not.
 */
export function componentSkewProblem(
  component: KubeComponent,
  version: KubeVersion,
  apiserver: KubeVersion,
): string | undefined {
  const behind = minorDistance(version, apiserver); // > 0: component older
  const newer = compareKubeVersions(version, apiserver) > 0;
  switch (component) {
    case "kube-apiserver":
      return Math.abs(behind) > SKEW_POLICY.apiserverHa
        ? `kube-apiserver instances ${version.text} and ${apiserver.text} are more than ${SKEW_POLICY.apiserverHa} minor version apart`
        : undefined;
    case "kube-controller-manager":
    case "kube-scheduler":
      if (newer && behind < 0)
        return `${component} ${version.text} is newer than kube-apiserver ${apiserver.text}`;
      return behind > SKEW_POLICY.controlPlaneComponentsOlder
        ? `${component} ${version.text} is ${behind} minor versions older than kube-apiserver ${apiserver.text} (at most ${SKEW_POLICY.controlPlaneComponentsOlder})`
        : undefined;
    case "kubelet":
    case "kube-proxy": {
      if (behind < 0)
        return `${component} ${version.text} is newer than kube-apiserver ${apiserver.text}`;
      const max = maxKubeletSkew(version);
      return behind > max
        ? `${component} ${version.text} is ${behind} minor versions older than kube-apiserver ${apiserver.text} (at most ${max})`
        : undefined;
    }
    case "kubectl":
      return Math.abs(behind) > SKEW_POLICY.kubectlEitherSide
        ? `kubectl ${version.text} is ${Math.abs(behind)} minor versions ${behind > 0 ? "older" : "newer"} than kube-apiserver ${apiserver.text} (at most ${SKEW_POLICY.kubectlEitherSide} either side)`
        : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Upgrade validation
// ---------------------------------------------------------------------------------------------

/** Names of the rules `validateUpgrade` checks; each finding carries one. */
export type SkewRule =
  /** A node name is not a Kubernetes node name (DNS-1123 subdomain), or is listed twice. */
  | "node-name"
  /** A version string is not an exact Kubernetes version. */
  | "version-format"
  /** The target (or a node) would move to an older version. */
  | "no-downgrade"
  /** The control plane would skip a minor version (kubeadm upgrades one minor at a time). */
  | "one-minor-at-a-time"
  /** A major version change (not supported by kubeadm upgrade). */
  | "same-major"
  /** HA kube-apiserver instances more than one minor apart. */
  | "apiserver-ha-skew"
  /** A kubelet newer than the control plane: workers were upgraded before the control plane. */
  | "control-plane-first"
  /** A kubelet would be more minors behind the upgraded control plane than the policy allows. */
  | "kubelet-skew"
  /** Informational: a worker's kubelet jumps more than one minor in one step. */
  | "worker-skips-minor";

/** One result of `validateUpgrade`. Errors block the upgrade; warnings are printed in the plan. */
export interface SkewFinding {
  readonly severity: "error" | "warning";
  readonly rule: SkewRule;
  /** The node the finding is about (undefined for cluster-wide findings). */
  readonly node?: string;
  /**
   * The input field that holds the offending value: "targetVersion", "currentVersion",
   * "nodes[2].name". Unset for a node's version (the message names the node).
   */
  readonly field?: string;
  /** The offending value (a version, or a node name). */
  readonly value?: string;
  /** What is wrong, naming the node and the rule. */
  readonly message: string;
  /** How to fix it. */
  readonly fix: string;
}

/** A node as the skew check sees it. */
export interface VersionedNode {
  readonly name: string;
  readonly role: "control-plane" | "worker";
  /** The node's current kubelet version ("v1.34.2"); defaults to `currentVersion`. */
  readonly version?: string;
}

export interface UpgradeVersionInput {
  readonly nodes: readonly VersionedNode[];
  /** The version to upgrade to, e.g. "v1.35.4". */
  readonly targetVersion: string;
  /**
   * The cluster's current version (the control plane's). Nodes without their own `version` are
   * at this version. When unset, every node must give `version`.
   */
  readonly currentVersion?: string;
}

/**
 * Checks an upgrade of `nodes` to `targetVersion` against the version skew policy and kubeadm's
 * one-minor-at-a-time rule. Never throws; returns every finding (errors and warnings), each naming
 * the node and the rule. Rules:
 *
 * - `node-name`: every node name is a Kubernetes node name (DNS-1123 subdomain), listed once.
 * - `version-format`: every version is an exact "v1.35.4".
 * - `same-major`, `one-minor-at-a-time`: the target is the control plane's minor or the next one
 *   (a patch upgrade of it, or exactly one minor above); the control plane is its oldest
 *   control-plane node (the lagging kube-apiserver).
 * - `no-downgrade`: neither the target nor any node moves backwards.
 * - `apiserver-ha-skew`: control-plane nodes are within one minor of each other.
 * - `control-plane-first`: no kubelet is newer than the newest control-plane node (workers
 *   upgraded before the control plane).
 * - `kubelet-skew`: every kubelet that is not upgraded first stays within the supported skew
 *   behind the target control plane (N-3, N-2 for kubelets older than 1.25).
 * - `worker-skips-minor` (warning): a worker jumps more than one minor in one step.
 */
export function validateUpgrade(input: UpgradeVersionInput): SkewFinding[] {
  const findings: SkewFinding[] = [];
  const error = (f: Omit<SkewFinding, "severity">) => findings.push({ severity: "error", ...f });

  const target = tryParseKubeVersion(input.targetVersion);
  if (!target) {
    error({
      rule: "version-format",
      field: "targetVersion",
      value: String(input.targetVersion),
      message: `targetVersion ${JSON.stringify(input.targetVersion)} is not an exact Kubernetes version`,
      fix: 'write it as "v1.35.4"',
    });
  }
  let current: KubeVersion | undefined;
  if (input.currentVersion !== undefined) {
    current = tryParseKubeVersion(input.currentVersion);
    if (!current) {
      error({
        rule: "version-format",
        field: "currentVersion",
        value: String(input.currentVersion),
        message: `currentVersion ${JSON.stringify(input.currentVersion)} is not an exact Kubernetes version`,
        fix: 'write it as "v1.34.2"',
      });
    }
  }

  const seen = new Set<string>();
  input.nodes.forEach((n, i) => {
    let named = true;
    try {
      validateDnsName("validateUpgrade", `nodes[${i}].name`, n.name);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      named = false;
      error({
        rule: "node-name",
        node: typeof n.name === "string" ? n.name : undefined,
        field: `nodes[${i}].name`,
        value: typeof n.name === "string" ? n.name : String(n.name),
        message: `nodes[${i}]: name ${JSON.stringify(n.name)} is not a Kubernetes node name (${e.problem})`,
        fix: e.fix,
      });
    }
    if (named && seen.has(n.name)) {
      error({
        rule: "node-name",
        node: n.name,
        field: `nodes[${i}].name`,
        value: n.name,
        message: `nodes[${i}]: node ${n.name} is listed twice`,
        fix: "list every node once",
      });
    }
    seen.add(n.name);
  });

  const nodes: { name: string; role: VersionedNode["role"]; v: KubeVersion }[] = [];
  for (const n of input.nodes) {
    const given = n.version ?? input.currentVersion;
    const v = tryParseKubeVersion(given);
    if (!v) {
      if (given === undefined) {
        error({
          rule: "version-format",
          node: n.name,
          message: `node ${n.name}: no version given and no currentVersion to default to`,
          fix: `set version on node ${n.name} or set currentVersion`,
        });
      } else if (n.version !== undefined) {
        error({
          rule: "version-format",
          node: n.name,
          value: String(given),
          message: `node ${n.name}: version ${JSON.stringify(given)} is not an exact Kubernetes version`,
          fix: 'write it as "v1.34.2"',
        });
      }
      continue;
    }
    nodes.push({ name: n.name, role: n.role, v });
  }
  if (!target) return findings;

  const cps = nodes.filter((n) => n.role === "control-plane");
  const sorted = [...cps].sort((a, b) => compareKubeVersions(a.v, b.v));
  const oldestCp = sorted[0]?.v ?? current;
  const newestCp = sorted[sorted.length - 1]?.v ?? current;

  // The control plane and the target.
  if (oldestCp) {
    if (target.major !== oldestCp.major) {
      error({
        rule: "same-major",
        field: "targetVersion",
        value: target.text,
        message: `targetVersion ${target.text}: a major version change from ${oldestCp.text} is not supported by kubeadm upgrade`,
        fix: `choose a target in ${minorText(oldestCp)} or v${oldestCp.major}.${oldestCp.minor + 1}`,
      });
    } else if (compareKubeVersions(target, oldestCp) < 0) {
      // With control-plane nodes listed, each one newer than the target is reported below.
      if (cps.length === 0) {
        error({
          rule: "no-downgrade",
          field: "targetVersion",
          value: target.text,
          message: `targetVersion ${target.text} is older than the control plane ${oldestCp.text}`,
          fix: `choose ${oldestCp.text} or newer; downgrades are not supported (restore an etcd snapshot instead)`,
        });
      }
    } else if (minorDistance(oldestCp, target) > SKEW_POLICY.controlPlaneStep) {
      const steps: string[] = [];
      for (let m = oldestCp.minor + 1; m <= target.minor; m++) steps.push(`v${target.major}.${m}`);
      error({
        rule: "one-minor-at-a-time",
        node: sorted[0]?.name,
        // the target is what is wrong, not the control-plane node the message names
        field: "targetVersion",
        value: target.text,
        message:
          `targetVersion ${target.text} skips minor versions: the control plane` +
          (sorted[0] ? ` (node ${sorted[0].name})` : "") +
          ` is at ${oldestCp.text}, and kubeadm upgrades one minor version at a time`,
        fix: `upgrade in steps: ${minorText(oldestCp)} -> ${steps.join(" -> ")} (first to the latest v${oldestCp.major}.${oldestCp.minor + 1}.x)`,
      });
    }
  }

  // HA kube-apiserver instances within one minor of each other.
  if (sorted.length >= 2) {
    const oldest = sorted[0]!;
    const newest = sorted[sorted.length - 1]!;
    if (minorDistance(oldest.v, newest.v) > SKEW_POLICY.apiserverHa) {
      error({
        rule: "apiserver-ha-skew",
        node: oldest.name,
        value: oldest.v.text,
        message: `node ${oldest.name}: control-plane node at ${oldest.v.text} is more than ${SKEW_POLICY.apiserverHa} minor version behind control-plane node ${newest.name} at ${newest.v.text}`,
        fix: `bring ${oldest.name} to ${minorText(newest.v)} first (kube-apiserver instances must be within one minor version)`,
      });
    }
  }

  for (const n of nodes) {
    // No downgrades.
    if (compareKubeVersions(n.v, target) > 0) {
      error({
        rule: "no-downgrade",
        node: n.name,
        value: n.v.text,
        message: `node ${n.name}: at ${n.v.text}, newer than targetVersion ${target.text}; that would be a downgrade`,
        fix: `choose targetVersion ${n.v.text} or newer, or remove ${n.name} from the upgrade`,
      });
      continue;
    }
    if (n.role === "control-plane") {
      continue;
    }
    // Workers: control plane first.
    if (newestCp && compareKubeVersions(n.v, newestCp) > 0) {
      error({
        rule: "control-plane-first",
        node: n.name,
        value: n.v.text,
        message: `node ${n.name}: worker kubelet ${n.v.text} is newer than the control plane (${newestCp.text}); the control plane must be upgraded before workers`,
        fix: `upgrade the control-plane nodes to ${n.v.text} or later first`,
      });
      continue;
    }
    // Workers: the kubelet stays at n.v while the control plane moves to target.
    if (n.v.major === target.major) {
      const behind = minorDistance(n.v, target);
      const max = maxKubeletSkew(n.v);
      if (behind > max) {
        error({
          rule: "kubelet-skew",
          node: n.name,
          value: n.v.text,
          message: `node ${n.name}: kubelet ${n.v.text} would be ${behind} minor versions behind the upgraded control plane ${target.text}; the version skew policy allows at most ${max}`,
          fix: `upgrade ${n.name} to at least v${target.major}.${target.minor - max} before moving the control plane to ${target.text}`,
        });
      } else if (behind > 1) {
        findings.push({
          severity: "warning",
          rule: "worker-skips-minor",
          node: n.name,
          value: n.v.text,
          message: `node ${n.name}: kubelet ${n.v.text} jumps ${behind} minor versions to ${target.text} in one step`,
          fix: `supported by the skew policy; upgrade ${n.name} together with the control plane next time`,
        });
      }
    } else {
      error({
        rule: "same-major",
        node: n.name,
        value: n.v.text,
        message: `node ${n.name}: kubelet ${n.v.text} and targetVersion ${target.text} differ in major version`,
        fix: `bring ${n.name} to v${target.major}.x first`,
      });
    }
  }
  return findings;
}

/**
 * A finding as a ValidationError of `where`: the field is the finding's `field` ("targetVersion",
 * "nodes[2].name"), else "version of node <name>" for a node's version, else "targetVersion".
 */
export function skewFindingError(f: SkewFinding, where: string): ValidationError {
  return new ValidationError(
    where,
    f.field ?? (f.node ? `version of node ${f.node}` : "targetVersion"),
    f.value,
    `[${f.rule}] ${f.message}`,
    f.fix,
  );
}

/**
 * Throws ValidationErrors listing every error finding of `validateUpgrade` (warnings are returned).
 * `where` names the caller (resource name / function) in each message.
 */
export function assertUpgradeValid(
  input: UpgradeVersionInput,
  where = "validateUpgrade",
): SkewFinding[] {
  const findings = validateUpgrade(input);
  const errors = findings.filter((f) => f.severity === "error");
  if (errors.length > 0) {
    throw new ValidationErrors(errors.map((f) => skewFindingError(f, where)));
  }
  return findings.filter((f) => f.severity === "warning");
}
