/**
 * The resource-level backup of the field guide (`kubectl get <kinds> --all-namespaces -o yaml >
 * backup.yaml`), rendered from typed options, in a form that can be restored.
 *
 * The script (POSIX sh with kubectl and awk, e.g. busybox) exports each chosen resource with
 * `kubectl get <resource> (-A | -n <ns>) -o json` and passes the List through an awk filter
 * ({@link RESOURCE_BACKUP_FILTER}) that writes one file per resource and namespace,
 * `<snapshot>/<namespace>/<resource>.json` (cluster-scoped ones in `<snapshot>/_cluster/`), each a
 * `v1` `List`, cleaned so that `kubectl apply --server-side -f <snapshot>/<namespace>/` recreates
 * the objects:
 *
 * - dropped fields (set by the API server or controllers, refused or misleading on create):
 *   `status`, `metadata.uid`, `metadata.resourceVersion`, `metadata.creationTimestamp`,
 *   `metadata.generation`, `metadata.selfLink`, `metadata.managedFields`,
 *   `metadata.deletionTimestamp`, `metadata.deletionGracePeriodSeconds`,
 *   `metadata.ownerReferences`, and a Service's allocated `spec.clusterIP` / `spec.clusterIPs`
 *   (kept when `"None"`: a headless Service stays headless);
 * - skipped objects: those with a controller owner reference (`controller: true`: the pods of
 *   a ReplicaSet, the ReplicaSets of a Deployment, the Jobs of a CronJob, EndpointSlices ...):
 *   their owner recreates them, and restored with a stale owner reference the garbage
 *   collector would delete them again. Other owner references are dropped (they name the old
 *   owners' UIDs, which no longer exist after a restore);
 * - everything else (labels, annotations, spec, data) is kept as the API server returned it.
 *
 * The snapshot is written to `<backupDir>/.resource-backup-in-progress` and renamed to
 * `<backupDir>/resource-backup-<UTC timestamp>` only when every export succeeded, so a failed
 * run leaves no snapshot behind; retention (days and/or count, like the etcd backup) then
 * deletes older snapshot directories, only those named exactly like that. `umask 077`: the
 * directories are 0700, the files 0600.
 *
 * Every value is validated (resource and group names as DNS names, namespaces as DNS labels,
 * absolute normalized paths, plain command names) and quoted with the helpers of ./shell.
 */
import { ProblemCollector, ValidationError } from "../errors";
import {
  PORTABLE_STRICT,
  shArg,
  validateAbsolutePath,
  validateCommand,
  validateInteger,
} from "./shell";

/**
 * The field guide's three sets:
 * - `"all"`: `kubectl get all --all-namespaces` — kubectl's `all` category (pods, services,
 *   replicationcontrollers, daemonsets, deployments, replicasets, statefulsets,
 *   horizontalpodautoscalers, cronjobs, jobs). Not every namespaced kind: ConfigMaps, Secrets,
 *   PVCs, RBAC and custom resources are not in it (add them with `kinds`).
 * - `"app"`: `deployments,services,configmaps,secrets` (secrets only with `includeSecrets`).
 * - `"rbac"`: `roles,rolebindings` and the cluster-scoped `clusterroles,clusterrolebindings`.
 */
export type ResourceBackupPreset = "all" | "app" | "rbac";

/** A resource to export: its plural name and API group ("" for the core group). */
export interface BackupResource {
  /** Plural resource name, e.g. `deployments`. */
  readonly resource: string;
  /** API group, `""` for core. */
  readonly group: string;
  /** Cluster-scoped (exported once, into `_cluster/`). */
  readonly clusterScoped: boolean;
  /** The name given to kubectl and used for the file: `deployments.apps`, `services`. */
  readonly kubectlName: string;
}

/** Resources kube-upkeep knows the group and scope of (so a bare name is enough for them). */
const KNOWN: Readonly<Record<string, { group: string; clusterScoped: boolean }>> = {
  pods: { group: "", clusterScoped: false },
  services: { group: "", clusterScoped: false },
  configmaps: { group: "", clusterScoped: false },
  secrets: { group: "", clusterScoped: false },
  serviceaccounts: { group: "", clusterScoped: false },
  persistentvolumeclaims: { group: "", clusterScoped: false },
  replicationcontrollers: { group: "", clusterScoped: false },
  limitranges: { group: "", clusterScoped: false },
  resourcequotas: { group: "", clusterScoped: false },
  endpoints: { group: "", clusterScoped: false },
  deployments: { group: "apps", clusterScoped: false },
  statefulsets: { group: "apps", clusterScoped: false },
  daemonsets: { group: "apps", clusterScoped: false },
  replicasets: { group: "apps", clusterScoped: false },
  jobs: { group: "batch", clusterScoped: false },
  cronjobs: { group: "batch", clusterScoped: false },
  horizontalpodautoscalers: { group: "autoscaling", clusterScoped: false },
  poddisruptionbudgets: { group: "policy", clusterScoped: false },
  ingresses: { group: "networking.k8s.io", clusterScoped: false },
  networkpolicies: { group: "networking.k8s.io", clusterScoped: false },
  roles: { group: "rbac.authorization.k8s.io", clusterScoped: false },
  rolebindings: { group: "rbac.authorization.k8s.io", clusterScoped: false },
  namespaces: { group: "", clusterScoped: true },
  nodes: { group: "", clusterScoped: true },
  persistentvolumes: { group: "", clusterScoped: true },
  clusterroles: { group: "rbac.authorization.k8s.io", clusterScoped: true },
  clusterrolebindings: { group: "rbac.authorization.k8s.io", clusterScoped: true },
  storageclasses: { group: "storage.k8s.io", clusterScoped: true },
  priorityclasses: { group: "scheduling.k8s.io", clusterScoped: true },
  customresourcedefinitions: { group: "apiextensions.k8s.io", clusterScoped: true },
  ingressclasses: { group: "networking.k8s.io", clusterScoped: true },
};

/** The presets' resources (bare names from {@link KNOWN}), in export order. */
export const RESOURCE_BACKUP_PRESETS: Readonly<Record<ResourceBackupPreset, readonly string[]>> = {
  all: [
    "pods",
    "services",
    "replicationcontrollers",
    "daemonsets",
    "deployments",
    "replicasets",
    "statefulsets",
    "horizontalpodautoscalers",
    "cronjobs",
    "jobs",
  ],
  app: ["deployments", "services", "configmaps", "secrets"],
  rbac: ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
};

/** How many snapshots to keep. At least one of `days` and `count` must be set. */
export interface ResourceBackupRetention {
  /**
   * Delete snapshots whose directory modification time is more than this many days ago.
   *
   * @default 7 (when `retention` is not given at all)
   */
  readonly days?: number;
  /**
   * Keep only the newest `count` snapshots and delete the rest.
   *
   * @default - no count limit
   */
  readonly count?: number;
}

/** Options of the resource backup script. */
export interface ResourceBackupScriptOptions {
  /**
   * Presets to export (their union with `kinds`).
   *
   * @default ["app"] when `kinds` is not given either (the guide's
   * `deployments,services,configmaps[,secrets]`)
   */
  readonly presets?: readonly ResourceBackupPreset[];
  /**
   * Further resources to export: plural resource names, bare (`deployments`, for the built-in
   * resources kube-upkeep knows the group of) or `resource.group`
   * (`certificates.cert-manager.io`, `deployments.apps`). Namespaced ones are exported per
   * namespace; cluster-scoped ones must be listed in `clusterKinds`.
   *
   * @default - only the presets
   */
  readonly kinds?: readonly string[];
  /**
   * Cluster-scoped resources to export, into `_cluster/` (same naming as `kinds`), e.g.
   * `["clusterroles", "storageclasses.storage.k8s.io"]`.
   *
   * @default - none beyond the presets'
   */
  readonly clusterKinds?: readonly string[];
  /**
   * Namespaces to export. With a list, the read permissions are granted only in those
   * namespaces (RoleBindings); unset: all namespaces (a ClusterRoleBinding).
   *
   * @default - all namespaces
   */
  readonly namespaces?: readonly string[];
  /**
   * Export Secrets (the `app` preset's `secrets`, or `secrets` in `kinds`). The files then hold
   * secret data (base64, not encrypted) and the ServiceAccount can read every Secret it exports.
   *
   * @default false
   */
  readonly includeSecrets?: boolean;
  /**
   * Directory the snapshots are written to (inside the pod: the volume's mount path).
   *
   * @default "/var/backups/kubernetes-resources"
   */
  readonly backupDir?: string;
  /**
   * Retention by age and/or count; a snapshot breaking either rule is deleted. Only directories
   * named like `resource-backup-20260301T020000Z` are ever deleted.
   *
   * @default { days: 7 }
   */
  readonly retention?: ResourceBackupRetention;
  /**
   * kubectl: a name looked up on PATH or an absolute path.
   *
   * @default "kubectl"
   */
  readonly kubectl?: string;
}

/** The options validated, defaults filled in. */
export interface ResolvedResourceBackupOptions {
  /** Every resource, namespaced ones first, in the order given (presets first), no duplicates. */
  readonly resources: readonly BackupResource[];
  /** undefined: all namespaces. */
  readonly namespaces?: readonly string[];
  readonly includeSecrets: boolean;
  readonly backupDir: string;
  readonly retention: { readonly days?: number; readonly count?: number };
  readonly kubectl: string;
}

export const RESOURCE_BACKUP_DEFAULTS = {
  presets: ["app"] as readonly ResourceBackupPreset[],
  backupDir: "/var/backups/kubernetes-resources",
  retentionDays: 7,
  kubectl: "kubectl",
} as const;

/** The snapshot directory names the backup writes and the only ones retention deletes. */
export const RESOURCE_SNAPSHOT_NAME_PATTERN = /^resource-backup-\d{8}T\d{6}Z$/;
/** The same as a shell glob (for `find -name`). */
export const RESOURCE_SNAPSHOT_NAME_GLOB =
  "resource-backup-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z";
/** The directory a run writes into before it is renamed. */
export const RESOURCE_BACKUP_TEMP_NAME = ".resource-backup-in-progress";
/** The directory of the cluster-scoped resources inside a snapshot (no namespace can be named so). */
export const CLUSTER_SCOPED_DIR = "_cluster";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_DAYS = 36500;
const MAX_COUNT = 100000;
const PRESETS = Object.keys(RESOURCE_BACKUP_PRESETS) as ResourceBackupPreset[];

function kubectlName(resource: string, group: string): string {
  return group === "" ? resource : `${resource}.${group}`;
}

/** Parses one entry of `kinds` / `clusterKinds` (or a preset's name). */
function parseResource(
  where: string,
  field: string,
  value: string,
  clusterScoped: boolean,
): BackupResource {
  const list = clusterScoped ? "clusterKinds" : "kinds";
  const other = clusterScoped ? "kinds" : "clusterKinds";
  if (typeof value !== "string" || value.length > 253 || !DNS_SUBDOMAIN.test(value))
    throw new ValidationError(
      where,
      field,
      value,
      "not a resource name (a DNS name: plural resource, optionally .group)",
      "give the plural resource name in lower case, bare for a built-in (deployments) or with its group (certificates.cert-manager.io)",
    );
  const dot = value.indexOf(".");
  const resource = dot < 0 ? value : value.slice(0, dot);
  const known = KNOWN[resource];
  if (resource.length > 63)
    throw new ValidationError(
      where,
      field,
      value,
      "the resource part is longer than 63 characters",
      "give the plural resource name (kubectl api-resources, NAME column)",
    );
  let group: string;
  if (dot >= 0) group = value.slice(dot + 1);
  else if (known) group = known.group;
  else
    throw new ValidationError(
      where,
      field,
      value,
      "not a built-in resource kube-upkeep knows the API group of",
      `write it as <plural>.<group> as kubectl api-resources shows it (for example ${value}.example.com), or use the plural of a built-in (deployments, not deployment or deploy)`,
    );
  if (known && known.group === group && known.clusterScoped !== clusterScoped)
    throw new ValidationError(
      where,
      field,
      value,
      clusterScoped ? "a namespaced resource" : "a cluster-scoped resource",
      `list it in ${other}, not in ${list}`,
    );
  return { resource, group, clusterScoped, kubectlName: kubectlName(resource, group) };
}

/**
 * Validates the options and fills in defaults; every problem is reported at once
 * (ValidationErrors). `where` names the caller in error messages (a construct path).
 */
export function resolveResourceBackupOptions(
  opts: ResourceBackupScriptOptions = {},
  where = "renderResourceBackupScript",
): ResolvedResourceBackupOptions {
  const d = RESOURCE_BACKUP_DEFAULTS;
  const problems = new ProblemCollector();
  const includeSecrets = opts.includeSecrets ?? false;
  if (typeof includeSecrets !== "boolean")
    problems.add(
      new ValidationError(
        where,
        "includeSecrets",
        includeSecrets,
        "not a boolean",
        "give true or false",
      ),
    );
  const presets =
    opts.presets ?? (opts.kinds === undefined && opts.clusterKinds === undefined ? d.presets : []);
  const resources: BackupResource[] = [];
  const seen = new Map<string, string>();
  const addResource = (field: string, r: BackupResource | undefined) => {
    if (!r) return;
    const earlier = seen.get(r.kubectlName);
    if (earlier !== undefined) {
      if (field.startsWith("presets")) return; // presets may overlap each other
      problems.add(
        new ValidationError(
          where,
          field,
          r.kubectlName,
          `already exported (${earlier})`,
          "list each resource once",
        ),
      );
      return;
    }
    seen.set(r.kubectlName, field);
    if (r.resource === "secrets" && r.group === "" && !includeSecrets) {
      if (field.startsWith("presets")) return; // the app preset without includeSecrets
      problems.add(
        new ValidationError(
          where,
          field,
          r.kubectlName,
          "Secrets are exported only with includeSecrets: true",
          "set includeSecrets: true (the files then hold secret data) or remove secrets",
        ),
      );
      return;
    }
    resources.push(r);
  };
  if (!Array.isArray(presets))
    problems.add(
      new ValidationError(
        where,
        "presets",
        presets,
        "not a list",
        `give a list of ${PRESETS.join(", ")}`,
      ),
    );
  else
    (presets as readonly ResourceBackupPreset[]).forEach((p, i) => {
      if (!PRESETS.includes(p)) {
        problems.add(
          new ValidationError(
            where,
            `presets[${i}]`,
            p,
            "not a preset",
            `use one of ${PRESETS.map((x) => JSON.stringify(x)).join(", ")}`,
          ),
        );
        return;
      }
      for (const name of RESOURCE_BACKUP_PRESETS[p])
        addResource(
          `presets[${i}] (${p})`,
          parseResource(where, `presets[${i}]`, name, KNOWN[name].clusterScoped),
        );
    });
  for (const [field, list, clusterScoped] of [
    ["kinds", opts.kinds, false],
    ["clusterKinds", opts.clusterKinds, true],
  ] as const) {
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      problems.add(
        new ValidationError(
          where,
          field,
          list,
          "not a list",
          'give a list such as ["deployments"]',
        ),
      );
      continue;
    }
    list.forEach((k, i) =>
      addResource(
        `${field}[${i}]`,
        problems.collect(() => parseResource(where, `${field}[${i}]`, k, clusterScoped)),
      ),
    );
  }
  if (problems.empty && resources.length === 0)
    problems.add(
      new ValidationError(
        where,
        "kinds",
        opts.kinds,
        "nothing to export",
        'give presets (["all"], ["app"], ["rbac"]) or kinds',
      ),
    );
  // namespaced first, then cluster-scoped (each in the order given)
  resources.sort((a, b) => Number(a.clusterScoped) - Number(b.clusterScoped));

  let namespaces: string[] | undefined;
  if (opts.namespaces !== undefined) {
    if (!Array.isArray(opts.namespaces) || opts.namespaces.length === 0)
      problems.add(
        new ValidationError(
          where,
          "namespaces",
          opts.namespaces,
          "empty namespace list",
          "list the namespaces, or leave namespaces unset for all namespaces",
        ),
      );
    else {
      namespaces = [];
      const nsSeen = new Set<string>();
      opts.namespaces.forEach((n, i) => {
        if (typeof n !== "string" || !DNS_LABEL.test(n))
          problems.add(
            new ValidationError(
              where,
              `namespaces[${i}]`,
              n,
              "not a namespace name (DNS-1123 label)",
              "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
            ),
          );
        else if (nsSeen.has(n))
          problems.add(
            new ValidationError(
              where,
              `namespaces[${i}]`,
              n,
              "listed twice",
              "list each namespace once",
            ),
          );
        else {
          nsSeen.add(n);
          namespaces!.push(n);
        }
      });
    }
  }
  const backupDir = problems.collect(() =>
    validateAbsolutePath(where, "backupDir", opts.backupDir ?? d.backupDir),
  );
  if (backupDir === "/")
    problems.add(
      new ValidationError(
        where,
        "backupDir",
        backupDir,
        "the root directory cannot hold backups",
        "give a dedicated directory such as /var/backups/kubernetes-resources",
      ),
    );
  const kubectl = problems.collect(() =>
    validateCommand(where, "kubectl", opts.kubectl ?? d.kubectl),
  );
  let retention: { days?: number; count?: number } = { days: d.retentionDays };
  if (opts.retention !== undefined) {
    const r = opts.retention;
    if (r === null || typeof r !== "object" || (r.days === undefined && r.count === undefined))
      problems.add(
        new ValidationError(
          where,
          "retention",
          r,
          "neither days nor count is set",
          "give { days: 7 }, { count: 14 } or both",
        ),
      );
    else {
      retention = {};
      if (r.days !== undefined)
        retention.days = problems.collect(() =>
          validateInteger(where, "retention.days", r.days!, 1, MAX_DAYS),
        );
      if (r.count !== undefined)
        retention.count = problems.collect(() =>
          validateInteger(where, "retention.count", r.count!, 1, MAX_COUNT),
        );
    }
  }
  problems.throwIfAny();
  return {
    resources,
    ...(namespaces ? { namespaces } : {}),
    includeSecrets,
    backupDir: backupDir!,
    retention,
    kubectl: kubectl!,
  };
}

/** One ClusterRole rule: get/list on the exported resources of one API group. */
export interface ResourceBackupRule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
}

/**
 * The read-only RBAC rules the export needs, exactly the exported resources (get, list), one rule
 * per API group: `namespaced` for the per-namespace exports, `cluster` for the cluster-scoped ones.
 */
export function resourceBackupRules(o: ResolvedResourceBackupOptions): {
  namespaced: ResourceBackupRule[];
  cluster: ResourceBackupRule[];
} {
  const rules = (clusterScoped: boolean) => {
    const byGroup = new Map<string, string[]>();
    for (const r of o.resources.filter((x) => x.clusterScoped === clusterScoped)) {
      const list = byGroup.get(r.group) ?? [];
      list.push(r.resource);
      byGroup.set(r.group, list);
    }
    return [...byGroup.keys()]
      .sort()
      .map((g) => ({ apiGroups: [g], resources: byGroup.get(g)!.sort(), verbs: ["get", "list"] }));
  };
  return { namespaced: rules(false), cluster: rules(true) };
}

/**
 * The awk program that cleans one `kubectl get -o json` List (kubectl prints JSON indented by 4
 * spaces, one key per line, strings never spanning lines, which this program relies on: items at
 * 8 spaces, their fields at 12, metadata's and spec's at 16) and writes each kept item into
 * `<dir>/<namespace or _cluster>/<base>.json` as a v1 List. Variables: `dir`, `base`. Prints one
 * line `<file> <count>` per file written to stdout.
 */
export const RESOURCE_BACKUP_FILTER = String.raw`
function indent(s) { match(s, /^ */); return RLENGTH }
function closes(s) { return s ~ /^ *[]}]/ }
function opens(s) { return s ~ /[[{],?$/ && s !~ /(\{\}|\[\]),?$/ }
function keep(s) {
  if (closes(s) && n > 0) sub(/,$/, "", buf[n])
  buf[++n] = s
}
function flush(   ns, f, i) {
  if (owned) return
  ns = (namespace == "") ? "_cluster" : namespace
  if (ns !~ /^([a-z0-9]([-a-z0-9]*[a-z0-9])?|_cluster)$/) { print "bad namespace " ns > "/dev/stderr"; failed = 1; exit 2 }
  # flat: awk cannot make the directory without a shell command, and the kubectl
  # image has no /bin/sh (distroless): the shell moves <ns>__<base>.json to <ns>/<base>.json
  f = dir "/" ns "__" base ".json"
  if (!(f in count)) {
    printf "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n" > f
    count[f] = 0
    order[++files] = f
  } else printf ",\n" > f
  count[f]++
  sub(/,$/, "", buf[n])
  for (i = 1; i <= n; i++) { printf "%s", buf[i] > f; if (i < n) printf "\n" > f }
}
BEGIN { initem = 0 }
{
  line = $0
  if (!initem) {
    if (line == "        {") { initem = 1; n = 0; owned = 0; namespace = ""; kind = ""; top = ""; skip = -1; headless = 0; buf[++n] = line }
    next
  }
  ind = indent(line)
  if (skip >= 0) {
    if (ind == skip && closes(line)) skip = -1
    else if (inowner && line ~ /^ *"controller": true,?$/) owned = 1
    if (skip < 0) inowner = 0
    next
  }
  if (ind == 8 && closes(line)) { keep("        }"); flush(); initem = 0; next }
  drop = 0
  if (ind == 12) {
    top = line; sub(/^ *"/, "", top); sub(/".*/, "", top)
    if (top == "kind") { kind = line; sub(/^ *"kind": "/, "", kind); sub(/",?$/, "", kind) }
    if (top == "status") drop = 1
  } else if (ind == 16 && top == "metadata") {
    key = line; sub(/^ *"/, "", key); sub(/".*/, "", key)
    if (key == "namespace") { namespace = line; sub(/^ *"namespace": "/, "", namespace); sub(/",?$/, "", namespace) }
    if (key ~ /^(uid|resourceVersion|creationTimestamp|generation|selfLink|managedFields|deletionTimestamp|deletionGracePeriodSeconds|ownerReferences)$/) drop = 1
    if (key == "ownerReferences") inowner = 1
  } else if (ind == 16 && top == "spec" && kind == "Service") {
    if (line ~ /^ *"clusterIP": "None",?$/) headless = 1
    else if (line ~ /^ *"clusterIP": /) drop = 1
    else if (line ~ /^ *"clusterIPs": \[/ && !headless) drop = 1
  }
  if (drop) { if (opens(line)) skip = ind; else inowner = 0; next }
  keep(line)
}
END {
  if (failed) exit 2
  for (i = 1; i <= files; i++) {
    printf "\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {}\n}\n" > order[i]
    close(order[i])
    print order[i], count[order[i]]
  }
}
`;

/**
 * The whole backup as one POSIX sh script (the ResourceBackup CronJob runs it with `sh -c`):
 * export every resource into the temporary directory, rename it to the snapshot's final name,
 * prune. Needs kubectl (with in-cluster credentials or a kubeconfig) and awk, date, mkdir, mv,
 * rm, find, stat, sort (busybox has them). Progress goes to stderr; stdout is one line, the new
 * snapshot's path.
 */
export function renderResourceBackupScript(
  opts: ResourceBackupScriptOptions = {},
  where = "renderResourceBackupScript",
): string {
  const o = resolveResourceBackupOptions(opts, where);
  const { days, count } = o.retention;
  const steps: string[] = [];
  for (const r of o.resources) {
    if (r.clusterScoped || !o.namespaces) steps.push(`export_resource ${shArg(r.kubectlName)} ''`);
    else
      for (const ns of o.namespaces)
        steps.push(`export_resource ${shArg(r.kubectlName)} ${shArg(ns)}`);
  }
  // resolveResourceBackupOptions refuses an empty resource list: there is one step at least
  return String.raw`# kube-upkeep resource backup: kubectl get -o json, cleaned for kubectl apply --server-side
${PORTABLE_STRICT}
umask 077
kubectl=${shArg(o.kubectl)}
backup_dir=${shArg(o.backupDir)}
tmp_dir=${shArg(`${o.backupDir}/${RESOURCE_BACKUP_TEMP_NAME}`)}
# the awk program (its $ are awk's, not the shell's)
# shellcheck disable=SC2016
filter=${shArg(RESOURCE_BACKUP_FILTER)}
log() { printf '%s resource-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
mkdir -p "$backup_dir"
rm -rf "$tmp_dir"
mkdir "$tmp_dir"
objects=0
# export_resource <resource> <namespace or '' for all namespaces / cluster-scoped>
export_resource() {
  raw="$tmp_dir/.raw.json"
  if [ -n "$2" ]; then
    "$kubectl" get "$1" --namespace="$2" -o json >"$raw"
  else
    "$kubectl" get "$1" --all-namespaces -o json >"$raw"
  fi
  written=$(awk -v dir="$tmp_dir" -v base="$1" "$filter" <"$raw")
  rm -f "$raw"
  if [ -z "$written" ]; then
    log "$1${"${"}2:+ in $2}: nothing to export"
    return 0
  fi
  while read -r file n; do
    name=${"${"}file##*/}
    mkdir -p "$tmp_dir/${"${"}name%%__*}"
    mv "$file" "$tmp_dir/${"${"}name%%__*}/${"${"}name#*__}"
    log "wrote ${"${"}name%%__*}/${"${"}name#*__} ($n objects)"
    objects=$((objects + n))
  done <<EOF
$written
EOF
}
${steps.join("\n")}
final="$backup_dir/resource-backup-$(date -u +%Y%m%dT%H%M%SZ)"
if [ -e "$final" ]; then
  log "ERROR: $final already exists, not overwriting it"
  exit 1
fi
mv "$tmp_dir" "$final"
log "wrote $final ($objects objects)"
# retention: only directories named like the snapshots above are considered
pattern=${shArg(RESOURCE_SNAPSHOT_NAME_GLOB)}
max_age_days=${days ?? 0}
keep_count=${count ?? 0}
now=$(date +%s)
candidates=$(find "$backup_dir" -mindepth 1 -maxdepth 1 -type d -name "$pattern" -exec stat -c '%Y %n' {} + | sort -k1,1nr -k2,2r)
rank=1 # the snapshot just written counts as the newest and is never pruned
while read -r mtime dir; do
  [ -n "$dir" ] || continue
  [ "$dir" != "$final" ] || continue
  rank=$((rank + 1))
  reason=""
  if [ "$keep_count" -gt 0 ] && [ "$rank" -gt "$keep_count" ]; then
    reason="beyond the newest $keep_count"
  fi
  if [ "$max_age_days" -gt 0 ] && [ $((now - mtime)) -gt $((max_age_days * 86400)) ]; then
    reason="older than $max_age_days days"
  fi
  if [ -n "$reason" ]; then
    log "pruning $dir ($reason)"
    rm -rf -- "$dir"
  fi
done <<EOF
$candidates
EOF
printf '%s\n' "$final"
`;
}
