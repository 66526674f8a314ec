/**
 * Cdk8sManifests through the real Pulumi engine and the real @pulumi/kubernetes provider
 * (pulumi-resource-kubernetes built by test/cluster/build-pulumi.sh) against the local control
 * plane: `pulumi up` of a program with two PodDisruptionBudgets, EtcdBackup and
 * CertificateRenewal creates exactly the objects `cdk8s synth` gives (checked with
 * client-node), a second preview changes nothing, a program whose PDB blocks every drain fails
 * `pulumi preview` with the DrainSafety error and creates nothing, and `pulumi destroy` removes
 * every object.
 *
 * kube-upkeep is installed into the program as npm leaves it: a fresh build of lib/ copied into
 * the program's node_modules (buildPackage + installPackage in ../engine/pulumi-engine.ts). The
 * program imports the resource file directly.
 */
import { readFileSync, rmSync } from "node:fs";
import {
  BatchV1Api,
  type KubeConfig,
  PolicyV1Api,
  type V1CronJob,
  type V1PodDisruptionBudget,
} from "@kubernetes/client-node";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import { App, Chart } from "cdk8s";
import { CertificateRenewal } from "../../../lib/cdk8s/certificate-renewal";
import { DrainSafety } from "../../../lib/cdk8s/drain-safety";
import { EtcdBackup } from "../../../lib/cdk8s/etcd-backup";
import { PodDisruptionBudget } from "../../../lib/cdk8s/pod-disruption-budget";
import { createNamespace, deleteNamespace, loadKubeConfig, statusOf } from "../../cluster/fixtures";
import {
  buildPackage,
  installPackage,
  type PulumiEngine,
  pulumiEngine,
  readTree,
  writeProgram,
} from "../engine/pulumi-engine";

jest.setTimeout(900_000);

const dirs: string[] = [];
let kc: KubeConfig;
let ns: string;

beforeAll(async () => {
  kc = loadKubeConfig();
  ns = await createNamespace(kc, "ku-manifests");
});
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (kc && ns) await deleteNamespace(kc, ns);
});

/** The engine with the kubernetes provider; fails with how to build what is missing. */
function engineWithKubernetesProvider(): PulumiEngine {
  try {
    return pulumiEngine([
      "pulumi",
      "pulumi-language-nodejs",
      "pulumi-resource-pulumi-nodejs",
      "pulumi-resource-kubernetes",
    ]);
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\nThis test deploys through @pulumi/kubernetes and needs ` +
        `pulumi-resource-kubernetes (the provider of @pulumi/kubernetes 4.34.2): build it with ` +
        `\`bash test/cluster/build-pulumi.sh kubernetes\` (and the engine with ` +
        `\`bash test/cluster/build-pulumi.sh cli langhost shim\`); see docs/pulumi-engine.md, ` +
        `"Kubernetes provider".`,
    );
  }
}

const CONTROL_PLANE = ["cp-1", "cp-2", "cp-3"];

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { Cdk8sManifests } from "./node_modules/kube-upkeep/dist-lib/pulumi/cdk8s-chart";

const cfg = new pulumi.Config();
const namespace = cfg.require("namespace");
const nodes = ${JSON.stringify(CONTROL_PLANE)};
const blocking = cfg.getBoolean("blocking") ?? false;
const m = new Cdk8sManifests("maint", {
  kubeconfig: cfg.requireSecret("kubeconfig"),
  namespace,
  podDisruptionBudgets: {
    "web-pdb": { metadata: { name: "web" }, selector: { matchLabels: { app: "web" } }, maxUnavailable: blocking ? 0 : 1 },
    "db-pdb": { metadata: { name: "db" }, selector: { matchLabels: { app: "db" } }, minAvailable: "50%" },
  },
  drainSafety: { onWarnings: () => {} },
  etcdBackup: { namespace, nodes },
  certificateRenewal: { namespace, nodes },
});
export const keys = m.keys;
export const urn = m.urn;
`;

/** What cdk8s synth gives for the program's chart. */
interface SynthObject {
  kind: string;
  metadata: { name: string; namespace?: string };
}
function expectedObjects(namespace: string): SynthObject[] {
  const app = new App();
  const chart = new Chart(app, "maint", { namespace });
  new PodDisruptionBudget(chart, "web-pdb", {
    metadata: { name: "web" },
    selector: { matchLabels: { app: "web" } },
    maxUnavailable: 1,
  });
  new PodDisruptionBudget(chart, "db-pdb", {
    metadata: { name: "db" },
    selector: { matchLabels: { app: "db" } },
    minAvailable: "50%",
  });
  new EtcdBackup(chart, "etcd-backup", { namespace, nodes: CONTROL_PLANE });
  new CertificateRenewal(chart, "certificate-renewal", { namespace, nodes: CONTROL_PLANE });
  new DrainSafety(chart, "drain-safety", { onWarnings: () => {} });
  return chart.toJson() as SynthObject[];
}

async function readPdb(name: string): Promise<V1PodDisruptionBudget | undefined> {
  try {
    return await kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({
      name,
      namespace: ns,
    });
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw e;
  }
}

async function cronJobs(): Promise<V1CronJob[]> {
  return (await kc.makeApiClient(BatchV1Api).listNamespacedCronJob({ namespace: ns })).items;
}

test("pulumi up creates the PDBs, EtcdBackup and CertificateRenewal CronJobs; destroy removes them", async () => {
  const engine = engineWithKubernetesProvider();
  const kubeconfig = readFileSync(process.env.KUBECONFIG ?? "", "utf8");
  const keyMarker =
    /client-key-data: (\S{40})/.exec(kubeconfig)?.[1] ?? "no-client-key-in-kubeconfig";

  // @pulumi/* are peer dependencies: the program's own copies (here the repository's)
  const pkg = await buildPackage("pulumi/cdk8s-chart.js", ["@pulumi/pulumi", "@pulumi/kubernetes"]);
  dirs.push(pkg);
  const workDir = writeProgram("ku-manifests-engine", { "index.ts": PROGRAM }, [
    "@pulumi/kubernetes",
  ]);
  installPackage(workDir, pkg);
  const backend = engine.envVars.PULUMI_BACKEND_URL.replace(/^file:\/\//, "");
  dirs.push(workDir, backend);

  const pulumiCommand = await PulumiCommand.get({ root: engine.root });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "dev", workDir },
    { pulumiCommand, envVars: engine.envVars, secretsProvider: "passphrase" },
  );
  await stack.setAllConfig({
    kubeconfig: { value: kubeconfig, secret: true },
    namespace: { value: ns },
    blocking: { value: "false" },
  });

  // A PDB that blocks every drain: preview fails with the DrainSafety error, nothing is created.
  await stack.setConfig("blocking", { value: "true" });
  const failed = await stack.preview().then(
    () => undefined,
    (e: Error) => e,
  );
  expect(failed).toBeDefined();
  expect(String(failed?.message)).toContain("Validation failed with the following errors");
  expect(String(failed?.message)).toContain(
    "[maint/drain-safety] DrainSafety error [pdb-blocks-drain]: PodDisruptionBudget web",
  );
  expect(await readPdb("web")).toBeUndefined();
  await stack.setConfig("blocking", { value: "false" });

  const up = await stack.up();
  expect(up.summary.result).toBe("succeeded");
  expect(up.outputs.urn.value).toContain("::kube-upkeep:index:Cdk8sManifests::maint");
  const expected = expectedObjects(ns);
  expect([...(up.outputs.keys.value as string[])].sort()).toEqual(
    expected.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort(),
  );

  // The objects on the cluster are those cdk8s synth gives.
  const web = await readPdb("web");
  const db = await readPdb("db");
  expect(web?.spec).toMatchObject({
    maxUnavailable: 1,
    selector: { matchLabels: { app: "web" } },
    unhealthyPodEvictionPolicy: "AlwaysAllow",
  });
  expect(db?.spec).toMatchObject({
    minAvailable: "50%",
    unhealthyPodEvictionPolicy: "AlwaysAllow",
  });
  const jobs = await cronJobs();
  const expectedJobs = expected.filter((o) => o.kind === "CronJob") as unknown as V1CronJob[];
  expect(jobs.map((j) => j.metadata?.name).sort()).toEqual(
    expectedJobs.map((o) => o.metadata?.name).sort(),
  );
  expect(jobs).toHaveLength(6);
  for (const want of expectedJobs) {
    const got = jobs.find((j) => j.metadata?.name === want.metadata?.name)!;
    expect(got.spec?.schedule).toBe(want.spec?.schedule);
    expect(got.spec?.concurrencyPolicy).toBe("Forbid");
    expect(got.metadata?.labels).toMatchObject(want.metadata?.labels ?? {});
    const pod = got.spec?.jobTemplate.spec?.template.spec;
    const wantPod = want.spec?.jobTemplate.spec?.template.spec;
    expect(pod?.nodeSelector).toEqual(wantPod?.nodeSelector);
    expect((pod?.initContainers ?? []).map((c) => c.command)).toEqual(
      (wantPod?.initContainers ?? []).map((c) => c.command),
    );
    expect(pod?.containers.map((c) => c.command)).toEqual(
      wantPod?.containers.map((c) => c.command),
    );
  }
  // the kubeconfig stays a secret in the state and the output
  expect(readTree(backend)).not.toContain(keyMarker);
  expect(up.stdout).not.toContain(keyMarker);

  // nothing to do the second time
  const again = await stack.preview();
  expect(again.changeSummary).toEqual({ same: 1 + 1 + 1 + 2 + 6 }); // stack, component, provider, 2 PDBs, 6 CronJobs

  const down = await stack.destroy();
  expect(down.summary.result).toBe("succeeded");
  expect(await readPdb("web")).toBeUndefined();
  expect(await readPdb("db")).toBeUndefined();
  expect(await cronJobs()).toEqual([]);
  await stack.workspace.removeStack("dev");
});
