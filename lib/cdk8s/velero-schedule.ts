import { ApiObject } from "cdk8s";
import { Construct } from "constructs";
import { ProblemCollector, ValidationError } from "../core/errors";
import { validateCronSchedule } from "../core/scripts/shell";
import { childPath } from "./construct-path";

/** A label selector (Velero's `metav1.LabelSelector`). */
export interface VeleroLabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly {
    readonly key: string;
    readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    readonly values?: readonly string[];
  }[];
}

/** One exec hook: a command run in a container of each selected pod. */
export interface VeleroExecHook {
  /** The command, exec form (no shell unless you call one). At least one element. */
  readonly command: readonly string[];
  /** @default - the pod's first container */
  readonly container?: string;
  /** @default "Fail" (Velero's default) */
  readonly onError?: "Continue" | "Fail";
  /** A Go duration such as "30s". @default - Velero's 30s */
  readonly timeout?: string;
}

/** Hooks run around the backup of the selected pods (`spec.template.hooks.resources[]`). */
export interface VeleroBackupHook {
  /** Name of the hook (shown in Velero's logs). */
  readonly name: string;
  readonly includedNamespaces?: readonly string[];
  readonly excludedNamespaces?: readonly string[];
  readonly includedResources?: readonly string[];
  readonly excludedResources?: readonly string[];
  readonly labelSelector?: VeleroLabelSelector;
  /** Run before the pod's volumes are backed up, e.g. `fsfreeze --freeze`. */
  readonly pre?: readonly VeleroExecHook[];
  /** Run after, e.g. `fsfreeze --unfreeze`. */
  readonly post?: readonly VeleroExecHook[];
}

/** What each backup of the schedule contains (Velero's BackupSpec, the common fields). */
export interface VeleroBackupTemplate {
  /** @default - every namespace ("*") */
  readonly includedNamespaces?: readonly string[];
  readonly excludedNamespaces?: readonly string[];
  /** Resources as kubectl names them (`deployments`, `certificates.cert-manager.io`). @default - all */
  readonly includedResources?: readonly string[];
  readonly excludedResources?: readonly string[];
  /** @default - Velero decides (cluster resources only for a whole-cluster backup) */
  readonly includeClusterResources?: boolean;
  readonly labelSelector?: VeleroLabelSelector;
  /** How long backups are kept: a Go duration such as "720h0m0s" or "168h". @default - Velero's 720h (30 days) */
  readonly ttl?: string;
  /** BackupStorageLocation name. @default - Velero's default location */
  readonly storageLocation?: string;
  readonly volumeSnapshotLocations?: readonly string[];
  /** @default - Velero's server setting */
  readonly snapshotVolumes?: boolean;
  /** Back up every pod volume with the file-system uploader (kopia). @default - Velero's server setting */
  readonly defaultVolumesToFsBackup?: boolean;
  /** Pre/post exec hooks. */
  readonly hooks?: readonly VeleroBackupHook[];
}

/** Properties of {@link VeleroSchedule}. */
export interface VeleroScheduleProps {
  /** Name of the Schedule. @default - cdk8s's generated name */
  readonly name?: string;
  /** Namespace Velero runs in. @default "velero" */
  readonly namespace?: string;
  /** Five-field cron schedule (Velero's controller reads it in UTC). */
  readonly schedule: string;
  readonly template?: VeleroBackupTemplate;
  /** @default false */
  readonly paused?: boolean;
  /** Backups get an owner reference to the Schedule (deleted with it). @default false */
  readonly useOwnerReferencesInBackup?: boolean;
  /** Do not back up right away when the Schedule is created or unpaused. @default - Velero's server setting */
  readonly skipImmediately?: boolean;
}

const GO_DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A namespace or `*`; Velero also accepts glob patterns such as `app-*`. */
const NAMESPACE_PATTERN = /^(\*|[a-z0-9*?]([-a-z0-9*?]{0,61}[a-z0-9*?])?)$/;
/** A resource name (`deployments`, `deployments.apps`) or `*`. */
const RESOURCE_PATTERN = /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/**
 * A Velero `velero.io/v1` `Schedule`: the field guide's production recommendation
 * (`velero backup create ...` on a schedule) as a typed, validated object. Velero itself must be
 * installed (`velero install`); this construct only writes the Schedule.
 *
 * Every prop is checked at construction, all problems reported at once: the cron schedule,
 * `ttl` and hook timeouts as Go durations, names as DNS names, namespaces and resources as
 * Velero reads them, label selectors as Kubernetes does.
 */
export class VeleroSchedule extends Construct {
  public readonly apiObject: ApiObject;
  /** The Schedule's `spec` as synthesized. */
  public readonly spec: Record<string, unknown>;

  constructor(scope: Construct, id: string, props: VeleroScheduleProps) {
    const where = childPath(scope, id);
    const spec = VeleroSchedule.resolve(where, props);
    super(scope, id);
    this.spec = spec;
    this.apiObject = new ApiObject(this, "Schedule", {
      apiVersion: "velero.io/v1",
      kind: "Schedule",
      metadata: {
        ...(props.name !== undefined ? { name: props.name } : {}),
        namespace: props.namespace ?? "velero",
      },
      spec,
    });
  }

  private static resolve(where: string, props: VeleroScheduleProps): Record<string, unknown> {
    const problems = new ProblemCollector();
    const bad = (field: string, value: unknown, problem: string, fix: string) =>
      problems.add(new ValidationError(where, field, value, problem, fix));
    if (props === null || typeof props !== "object") {
      bad("props", props, "no props", 'give at least { schedule: "0 1 * * *" }');
      problems.throwIfAny();
    }
    const str = (field: string, v: unknown, re: RegExp, problem: string, fix: string) => {
      if (typeof v !== "string" || !re.test(v)) bad(field, v, problem, fix);
    };
    const bool = (field: string, v: unknown) => {
      if (v !== undefined && typeof v !== "boolean")
        bad(field, v, "not a boolean", "give true or false");
    };
    const list = (
      field: string,
      v: readonly string[] | undefined,
      re: RegExp,
      what: string,
      fix: string,
    ) => {
      if (v === undefined) return;
      if (!Array.isArray(v)) return bad(field, v, "not a list", fix);
      v.forEach((x, i) => str(`${field}[${i}]`, x, re, `not ${what}`, fix));
    };
    const namespaces = (field: string, v: readonly string[] | undefined) =>
      list(
        field,
        v,
        NAMESPACE_PATTERN,
        "a namespace name or pattern",
        'give namespace names such as "production" (or "*")',
      );
    const resources = (field: string, v: readonly string[] | undefined) =>
      list(
        field,
        v,
        RESOURCE_PATTERN,
        "a resource name",
        'give plural resource names as kubectl names them, such as "deployments", "persistentvolumeclaims" or "certificates.cert-manager.io" (or "*")',
      );
    const duration = (field: string, v: string | undefined) => {
      if (v !== undefined)
        str(
          field,
          v,
          GO_DURATION,
          "not a Go duration",
          'give a duration such as "720h0m0s", "168h" or "30s" (units h, m, s, ms, us, ns; no "d")',
        );
    };
    const selector = (field: string, s: VeleroLabelSelector | undefined) => {
      if (s === undefined) return;
      if (s === null || typeof s !== "object")
        return bad(
          field,
          s,
          "not a label selector",
          "give { matchLabels: {...} } and/or { matchExpressions: [...] }",
        );
      for (const [k, v] of Object.entries(s.matchLabels ?? {})) {
        str(
          `${field}.matchLabels`,
          k,
          LABEL_KEY,
          "has a key that is not a label key",
          'use keys such as "app" or "example.com/tier"',
        );
        str(
          `${field}.matchLabels.${k}`,
          v,
          LABEL_VALUE,
          "not a label value",
          "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        );
      }
      (s.matchExpressions ?? []).forEach((e, i) => {
        const f = `${field}.matchExpressions[${i}]`;
        str(
          `${f}.key`,
          e.key,
          LABEL_KEY,
          "not a label key",
          'use keys such as "app" or "example.com/tier"',
        );
        const withValues = e.operator === "In" || e.operator === "NotIn";
        if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(e.operator))
          bad(
            `${f}.operator`,
            e.operator,
            "not a selector operator",
            "use In, NotIn, Exists or DoesNotExist",
          );
        else if (withValues && (!Array.isArray(e.values) || e.values.length === 0))
          bad(`${f}.values`, e.values, `${e.operator} needs values`, "give at least one value");
        else if (!withValues && e.values !== undefined && e.values.length > 0)
          bad(`${f}.values`, e.values, `${e.operator} takes no values`, "remove values");
        (e.values ?? []).forEach((v, j) =>
          str(
            `${f}.values[${j}]`,
            v,
            LABEL_VALUE,
            "not a label value",
            "use at most 63 letters, digits, '-', '_' and '.'",
          ),
        );
      });
    };

    problems.collect(() => validateCronSchedule(where, "schedule", props.schedule));
    if (props.name !== undefined)
      str(
        "name",
        props.name,
        DNS_SUBDOMAIN,
        "not a DNS-1123 name",
        "use lower-case letters, digits, '-' and '.' (at most 253)",
      );
    if (props.namespace !== undefined)
      str(
        "namespace",
        props.namespace,
        DNS_LABEL,
        "not a namespace name (DNS-1123 label)",
        "give Velero's namespace, usually velero",
      );
    bool("paused", props.paused);
    bool("useOwnerReferencesInBackup", props.useOwnerReferencesInBackup);
    bool("skipImmediately", props.skipImmediately);

    const t = props.template ?? {};
    namespaces("template.includedNamespaces", t.includedNamespaces);
    namespaces("template.excludedNamespaces", t.excludedNamespaces);
    resources("template.includedResources", t.includedResources);
    resources("template.excludedResources", t.excludedResources);
    bool("template.includeClusterResources", t.includeClusterResources);
    selector("template.labelSelector", t.labelSelector);
    duration("template.ttl", t.ttl);
    if (t.storageLocation !== undefined)
      str(
        "template.storageLocation",
        t.storageLocation,
        DNS_SUBDOMAIN,
        "not a BackupStorageLocation name",
        "give the name of a BackupStorageLocation (velero backup-location get)",
      );
    list(
      "template.volumeSnapshotLocations",
      t.volumeSnapshotLocations,
      DNS_SUBDOMAIN,
      "a VolumeSnapshotLocation name",
      "give names of VolumeSnapshotLocations (velero snapshot-location get)",
    );
    bool("template.snapshotVolumes", t.snapshotVolumes);
    bool("template.defaultVolumesToFsBackup", t.defaultVolumesToFsBackup);
    const hookNames = new Set<string>();
    (t.hooks ?? []).forEach((h, i) => {
      const f = `template.hooks[${i}]`;
      if (typeof h.name !== "string" || h.name.length === 0)
        bad(`${f}.name`, h.name, "missing", "give each hook a name");
      else if (hookNames.has(h.name))
        bad(`${f}.name`, h.name, "used twice", "give each hook its own name");
      else hookNames.add(h.name);
      namespaces(`${f}.includedNamespaces`, h.includedNamespaces);
      namespaces(`${f}.excludedNamespaces`, h.excludedNamespaces);
      resources(`${f}.includedResources`, h.includedResources);
      resources(`${f}.excludedResources`, h.excludedResources);
      selector(`${f}.labelSelector`, h.labelSelector);
      if ((h.pre ?? []).length === 0 && (h.post ?? []).length === 0)
        bad(f, h.name, "has neither pre nor post hooks", "give pre and/or post exec hooks");
      for (const phase of ["pre", "post"] as const)
        (h[phase] ?? []).forEach((x, j) => {
          const g = `${f}.${phase}[${j}]`;
          if (
            !Array.isArray(x.command) ||
            x.command.length === 0 ||
            x.command.some((c) => typeof c !== "string")
          )
            bad(
              `${g}.command`,
              x.command,
              "not a non-empty list of strings",
              'give the command exec form, e.g. ["/sbin/fsfreeze", "--freeze", "/data"]',
            );
          if (x.container !== undefined)
            str(
              `${g}.container`,
              x.container,
              DNS_LABEL,
              "not a container name",
              "give the name of a container of the pod",
            );
          if (x.onError !== undefined && x.onError !== "Continue" && x.onError !== "Fail")
            bad(`${g}.onError`, x.onError, "not Continue or Fail", 'give "Continue" or "Fail"');
          duration(`${g}.timeout`, x.timeout);
        });
    });
    problems.throwIfAny();

    const defined = <T extends object>(o: T) =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    const sel = (s: VeleroLabelSelector | undefined) =>
      s === undefined
        ? undefined
        : defined({
            matchLabels: s.matchLabels ? { ...s.matchLabels } : undefined,
            matchExpressions: s.matchExpressions?.map((e) =>
              defined({
                key: e.key,
                operator: e.operator,
                values: e.values ? [...e.values] : undefined,
              }),
            ),
          });
    const arr = (v: readonly string[] | undefined) => (v ? [...v] : undefined);
    const exec = (x: VeleroExecHook) => ({
      exec: defined({
        command: [...x.command],
        container: x.container,
        onError: x.onError,
        timeout: x.timeout,
      }),
    });
    const template = defined({
      includedNamespaces: arr(t.includedNamespaces),
      excludedNamespaces: arr(t.excludedNamespaces),
      includedResources: arr(t.includedResources),
      excludedResources: arr(t.excludedResources),
      includeClusterResources: t.includeClusterResources,
      labelSelector: sel(t.labelSelector),
      ttl: t.ttl,
      storageLocation: t.storageLocation,
      volumeSnapshotLocations: arr(t.volumeSnapshotLocations),
      snapshotVolumes: t.snapshotVolumes,
      defaultVolumesToFsBackup: t.defaultVolumesToFsBackup,
      hooks: t.hooks
        ? {
            resources: t.hooks.map((h) =>
              defined({
                name: h.name,
                includedNamespaces: arr(h.includedNamespaces),
                excludedNamespaces: arr(h.excludedNamespaces),
                includedResources: arr(h.includedResources),
                excludedResources: arr(h.excludedResources),
                labelSelector: sel(h.labelSelector),
                pre: h.pre?.map(exec),
                post: h.post?.map(exec),
              }),
            ),
          }
        : undefined,
    });
    return defined({
      schedule: props.schedule.trim(),
      template,
      paused: props.paused,
      useOwnerReferencesInBackup: props.useOwnerReferencesInBackup,
      skipImmediately: props.skipImmediately,
    });
  }
}
