/**
 * `Cdk8sManifests` (kube-upkeep:index:Cdk8sManifests): the kube-upkeep cdk8s constructs (or
 * any cdk8s chart) deployed by Pulumi through @pulumi/kubernetes, without a `cdk8s synth` step.
 *
 * The chart is built and synthesized in-process when the component is constructed (so in
 * `pulumi preview`): the same code path as `cdk8s synth` (`chart.toJson()`: dependency
 * resolution, then every construct's validation, e.g. `DrainSafety`), so the objects carry the
 * same defaults and bad input fails with the same errors, before anything is sent to the
 * cluster. Each synthesized object becomes a typed @pulumi/kubernetes resource
 * (`kubernetes:policy/v1:PodDisruptionBudget`, `kubernetes:batch/v1:CronJob`, ...; objects of
 * other API groups a `CustomResource`), a child of the component, named
 * `<component>:<namespace>/<name>`. Namespaces and CustomResourceDefinitions are created first.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { App, Chart } from "cdk8s";
import { ValidationError } from "../core/errors";
import { CertificateRenewal, type CertificateRenewalProps } from "../cdk8s/certificate-renewal";
import { DrainSafety, type DrainSafetyProps, type Finding } from "../cdk8s/drain-safety";
import { EtcdBackup, type EtcdBackupProps } from "../cdk8s/etcd-backup";
import { PodDisruptionBudget, type PodDisruptionBudgetProps } from "../cdk8s/pod-disruption-budget";

/** A synthesized Kubernetes object (what `cdk8s synth` writes to the YAML file). */
export interface ManifestObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly [key: string]: unknown;
  };
  readonly [key: string]: unknown;
}

/**
 * What to synthesize. Either the kube-upkeep constructs by their props (and/or `build` for any
 * other constructs), all in one chart, or an `app` / `chart` built beforehand.
 *
 * Every value here must be a plain value, not a Pulumi Output: the chart is synthesized and
 * validated when the component is constructed, as `cdk8s synth` would.
 */
export interface Cdk8sChartSource {
  /**
   * PodDisruptionBudgets by construct id (the id names the budget when `metadata.name` is unset,
   * exactly as in a cdk8s chart).
   *
   * @default - none
   */
  readonly podDisruptionBudgets?: Readonly<Record<string, PodDisruptionBudgetProps>>;
  /**
   * The DrainSafety check over the chart (id `drain-safety`); `false` to leave it out.
   * Warnings go to `pulumi.log.warn` unless `onWarnings` is given.
   *
   * @default {} (added when the chart has PodDisruptionBudgets or `build` is given)
   */
  readonly drainSafety?: DrainSafetyProps | false;
  /**
   * The EtcdBackup CronJob(s) (id `etcd-backup`).
   *
   * @default - none
   */
  readonly etcdBackup?: EtcdBackupProps;
  /**
   * The CertificateRenewal CronJobs (id `certificate-renewal`).
   *
   * @default - none
   */
  readonly certificateRenewal?: CertificateRenewalProps;
  /**
   * Adds further constructs to the chart (workloads, `PodDisruptionBudget.forWorkload`, ...);
   * called after the constructs above are added.
   *
   * @default - nothing else
   */
  readonly build?: (chart: Chart) => void;
  /**
   * Id of the chart the constructs are created in: the first element of every construct path
   * (in error messages and generated names).
   *
   * @default - the component's name
   */
  readonly chartId?: string;
  /**
   * Namespace of the chart: objects without `metadata.namespace` get it (cdk8s `ChartProps`).
   *
   * @default - none (the provider's default namespace)
   */
  readonly namespace?: string;
  /**
   * Labels added to every object of the chart (cdk8s `ChartProps`).
   *
   * @default - none
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * A cdk8s App or Chart built beforehand, instead of the options above: every chart of the
   * App (in cdk8s's dependency order), or the one Chart. Validation covers its whole App.
   *
   * @default - a new App and Chart with the options above
   */
  readonly app?: App | Chart;
}

/** Arguments of {@link Cdk8sManifests}. */
export interface Cdk8sManifestsArgs extends Cdk8sChartSource {
  /**
   * kubeconfig YAML (made secret): the component creates a `kubernetes` Provider with it.
   *
   * @default - the `provider`, else the provider from the resource options, else the default
   *   provider (ambient kubeconfig)
   */
  readonly kubeconfig?: pulumi.Input<string>;
  /**
   * The Kubernetes provider of every object (instead of `kubeconfig`).
   *
   * @default - see `kubeconfig`
   */
  readonly provider?: k8s.Provider;
}

/**
 * Builds (unless `app` is given) and synthesizes the chart the way `cdk8s synth` does, and
 * returns the objects in cdk8s's order. Throws what cdk8s throws: a construct's
 * `ValidationError(s)` at construction, or `Validation failed with the following errors: ...`
 * from the validations (DrainSafety).
 */
export function synthesizeCdk8s(
  source: Cdk8sChartSource,
  defaultChartId: string,
  onWarnings?: (warnings: readonly Finding[]) => void,
): ManifestObject[] {
  const where = `Cdk8sManifests ${defaultChartId}`;
  const charts: Chart[] = [];
  if (source.app !== undefined) {
    const extra = (
      [
        "podDisruptionBudgets",
        "drainSafety",
        "etcdBackup",
        "certificateRenewal",
        "build",
        "chartId",
        "namespace",
        "labels",
      ] as const
    ).filter((k) => source[k] !== undefined);
    if (extra.length > 0)
      throw new ValidationError(
        where,
        extra[0],
        extra.length === 1 ? "(set)" : extra,
        "is given together with app: a pre-built App or Chart is deployed as it is",
        "add these constructs to the app yourself, or drop app and let the component build the chart",
      );
    if (source.app instanceof Chart) charts.push(source.app);
    else if (source.app instanceof App) charts.push(...source.app.charts);
    else
      throw new ValidationError(
        where,
        "app",
        typeof source.app,
        "is neither a cdk8s App nor a cdk8s Chart (from the cdk8s package this program loads)",
        "pass new App() or a Chart built with the cdk8s package kube-upkeep depends on",
      );
  } else {
    const app = new App();
    const chart = new Chart(app, source.chartId ?? defaultChartId, {
      ...(source.namespace !== undefined ? { namespace: source.namespace } : {}),
      ...(source.labels !== undefined ? { labels: { ...source.labels } } : {}),
    });
    for (const [id, props] of Object.entries(source.podDisruptionBudgets ?? {}))
      new PodDisruptionBudget(chart, id, props);
    if (source.etcdBackup !== undefined) new EtcdBackup(chart, "etcd-backup", source.etcdBackup);
    if (source.certificateRenewal !== undefined)
      new CertificateRenewal(chart, "certificate-renewal", source.certificateRenewal);
    source.build?.(chart);
    const hasPdbs =
      Object.keys(source.podDisruptionBudgets ?? {}).length > 0 || source.build !== undefined;
    if (source.drainSafety !== false && (source.drainSafety !== undefined || hasPdbs))
      new DrainSafety(chart, "drain-safety", {
        ...source.drainSafety,
        ...(source.drainSafety?.onWarnings === undefined && onWarnings ? { onWarnings } : {}),
      });
    charts.push(chart);
  }
  // chart.toJson() is what `cdk8s synth` writes per chart: it resolves the dependencies and
  // runs every validation of the app, throwing cdk8s's "Validation failed" error.
  return charts.flatMap((c) => c.toJson() as ManifestObject[]);
}

/** Kubernetes API groups the @pulumi/kubernetes SDK has typed resources for, by their module. */
function typedResourceClass(apiVersion: string, kind: string): unknown {
  const slash = apiVersion.lastIndexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  let module: string;
  if (group === "") module = "core";
  else if (!group.includes("."))
    module = group; // apps, batch, policy, autoscaling, extensions
  else if (group.endsWith(".k8s.io")) module = group.split(".")[0];
  else return undefined;
  const mod = (k8s as unknown as Record<string, Record<string, Record<string, unknown>>>)[module];
  const cls = mod?.[version]?.[kind];
  return typeof cls === "function" ? cls : undefined;
}

type ResourceClass = new (
  name: string,
  args: Record<string, unknown>,
  opts?: pulumi.CustomResourceOptions,
) => pulumi.CustomResource;

/** `Kind/namespace/name`, or `Kind/name` without a namespace. */
export function manifestKey(obj: ManifestObject): string {
  const ns = obj.metadata?.namespace;
  return `${obj.kind}/${ns ? `${ns}/` : ""}${obj.metadata?.name ?? ""}`;
}

/**
 * Deploys kube-upkeep cdk8s constructs (PodDisruptionBudgets with the DrainSafety check,
 * EtcdBackup, CertificateRenewal) or any cdk8s chart through @pulumi/kubernetes.
 *
 * @example
 * new Cdk8sManifests("maintenance", {
 *   kubeconfig: config.requireSecret("kubeconfig"),
 *   podDisruptionBudgets: {
 *     "web-pdb": { metadata: { namespace: "shop" }, selector: { matchLabels: { app: "web" } }, maxUnavailable: 1 },
 *   },
 *   etcdBackup: { nodes: ["cp-1", "cp-2", "cp-3"] },
 *   certificateRenewal: { nodes: ["cp-1", "cp-2", "cp-3"] },
 * });
 */
export class Cdk8sManifests extends pulumi.ComponentResource {
  /** The synthesized objects, as `cdk8s synth` would write them (known at construction). */
  public readonly manifests: readonly ManifestObject[];
  /** The Pulumi resource of each object, by {@link manifestKey}. */
  public readonly resources: Readonly<Record<string, pulumi.CustomResource>>;
  /** The provider created from `kubeconfig` (undefined otherwise). */
  public readonly provider?: k8s.Provider;
  /** {@link manifestKey} of every object, in cdk8s's order. */
  public readonly keys: pulumi.Output<string[]>;

  constructor(name: string, args: Cdk8sManifestsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kube-upkeep:index:Cdk8sManifests", name, {}, opts);
    const where = `Cdk8sManifests ${name}`;
    if (args.kubeconfig !== undefined && args.provider !== undefined)
      throw new ValidationError(
        where,
        "provider",
        "(set)",
        "is given together with kubeconfig",
        "pass either kubeconfig (the component creates the provider) or provider",
      );
    const manifests = synthesizeCdk8s(args, name, (warnings) => {
      for (const w of warnings)
        pulumi.log.warn(`kube-upkeep DrainSafety warning [${w.code}]: ${w.message}`, this);
    });

    const seen = new Map<string, number>();
    manifests.forEach((obj, i) => {
      if (!obj || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string")
        throw new ValidationError(
          where,
          `objects[${i}]`,
          obj,
          "has no apiVersion or kind",
          "every synthesized object needs apiVersion and kind",
        );
      if (!obj.metadata?.name)
        throw new ValidationError(
          where,
          `objects[${i}].metadata.name`,
          obj.metadata?.name,
          `${obj.kind} has no name`,
          "set metadata.name (cdk8s ApiObjects always have one)",
        );
      const key = `${obj.apiVersion} ${manifestKey(obj)}`;
      const prev = seen.get(key);
      if (prev !== undefined)
        throw new ValidationError(
          where,
          `objects[${i}]`,
          manifestKey(obj),
          `is the same object as objects[${prev}] (same apiVersion, kind, namespace and name)`,
          "give each object its own metadata.name",
        );
      seen.set(key, i);
    });

    let provider = args.provider;
    if (args.kubeconfig !== undefined) {
      provider = new k8s.Provider(
        `${name}-provider`,
        { kubeconfig: pulumi.secret(args.kubeconfig) },
        { parent: this },
      );
      this.provider = provider;
    }

    const first = (o: ManifestObject) =>
      (o.kind === "Namespace" && o.apiVersion === "v1") ||
      (o.kind === "CustomResourceDefinition" && o.apiVersion.startsWith("apiextensions.k8s.io/"));
    const ordered = [...manifests.filter(first), ...manifests.filter((o) => !first(o))];
    const prerequisites: pulumi.Resource[] = [];
    const resources: Record<string, pulumi.CustomResource> = {};
    for (const obj of ordered) {
      const ns = obj.metadata?.namespace;
      const resourceName = `${name}:${ns ? `${ns}/` : ""}${obj.metadata!.name}`;
      const isPrerequisite = first(obj);
      const childOpts: pulumi.CustomResourceOptions = {
        parent: this,
        ...(provider ? { provider } : {}),
        ...(isPrerequisite ? {} : { dependsOn: [...prerequisites] }),
      };
      const cls = typedResourceClass(obj.apiVersion, obj.kind) as ResourceClass | undefined;
      const resource = cls
        ? new cls(resourceName, { ...obj }, childOpts)
        : new k8s.apiextensions.CustomResource(resourceName, { ...obj }, childOpts);
      if (isPrerequisite) prerequisites.push(resource);
      resources[manifestKey(obj)] = resource;
    }
    this.manifests = manifests;
    this.resources = resources;
    this.keys = pulumi.output(manifests.map(manifestKey));
    this.registerOutputs({ keys: this.keys });
  }
}
