/**
 * The complete program in docs/pulumi.md runs (under mocks) with the documented configuration:
 * the doc cannot drift from the API without this test failing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as ts from "typescript";
import { waitForRPCs } from "./rpcs";
import { planFromCluster } from "../../../lib/pulumi/live-plan";
import { formatPlan } from "../../../lib/core/plan";
import { DOC_NODES, docCluster } from "./docs-cluster";

const DOC = path.join(__dirname, "../../../docs/pulumi.md");
const registered: { type: string; name: string }[] = [];

beforeAll(() => {
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registered.push({ type: args.type, name: args.name });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type.endsWith(":NodeReadyWait")) state.kubeletVersion = args.inputs.targetVersion;
        return { id: `${args.name}-id`, state };
      },
      call: (args: pulumi.runtime.MockCallArgs) => args.inputs,
    },
    "cluster-upgrade",
    "prod",
    true,
  );
  const nodes = [
    { name: "cp-1", role: "control-plane", host: "10.0.0.11" },
    { name: "cp-2", role: "control-plane", host: "10.0.0.12" },
    { name: "cp-3", role: "control-plane", host: "10.0.0.13" },
    ...Array.from({ length: 5 }, (_, i) => ({
      name: `w-${i + 1}`,
      role: "worker",
      host: `10.0.1.${i + 1}`,
    })),
  ];
  pulumi.runtime.setAllConfig(
    {
      "cluster-upgrade:currentVersion": "v1.34.2",
      "cluster-upgrade:targetVersion": "v1.35.4",
      "cluster-upgrade:maxUnavailable": "2",
      "cluster-upgrade:sshPrivateKey":
        "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
      "cluster-upgrade:kubeconfig": "apiVersion: v1\nkind: Config\n",
      "cluster-upgrade:nodes": JSON.stringify(nodes),
    },
    ["cluster-upgrade:sshPrivateKey", "cluster-upgrade:kubeconfig"],
  );
});

/** docs/pulumi.md and its program: the ```ts block after `index.ts`:. */
function docProgram(): { md: string; code: string } {
  const md = fs.readFileSync(DOC, "utf8");
  const m = /`index\.ts`:\n\n```ts\n([\s\S]*?)```/.exec(md);
  if (!m) throw new Error("docs/pulumi.md: no ```ts block after `index.ts`:");
  return { md, code: m[1]! };
}

test("docs/pulumi.md index.ts builds the documented plan", async () => {
  const { md, code } = docProgram();
  // Transpile and run it with this test's module registry (the same @pulumi/pulumi that has the
  // mocks), resolving the package's self-reference to the sources.
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const mod = { exports: {} as Record<string, unknown> };
  const req = (id: string): unknown =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    id === "kube-upkeep/pulumi" ? require("../../../lib/pulumi") : require(id);
  new Function("require", "exports", "module", js)(req, mod.exports, mod);
  const program = mod.exports as {
    plan: pulumi.Output<string>;
    kubeletVersions: pulumi.Output<Record<string, string>>;
  };
  {
    const plan = await new Promise<string>((r) => program.plan.apply(r));
    expect(plan).toContain(
      "Upgrade plan: control plane v1.34.2 -> v1.35.4, workers 2 at a time in 2 chain(s)",
    );
    // the plan table in the doc is exactly what the program prints
    for (const line of plan.split("\n").filter((l) => l.trim())) expect(md).toContain(line);
    const versions = await new Promise<Record<string, string>>((r) =>
      program.kubeletVersions.apply(r),
    );
    expect(Object.keys(versions)).toHaveLength(8);
    expect(registered.filter((r) => r.type === "kube-upkeep:index:NodeUpgrade")).toHaveLength(8);
    expect(registered.some((r) => r.name === "upgrade-etcd-snapshot")).toBe(true);
    // the node resources are registered once the plan is made: let their registrations finish
    // before the test environment goes
    await waitForRPCs();
  }
});

test("docs/pulumi.md's live plans are what the plan prints for its cluster (test/unit/pulumi/docs-cluster.ts)", () => {
  const { md } = docProgram();
  const declared = { nodes: DOC_NODES, targetVersion: "v1.35.4", maxUnavailable: 2 };
  const r = { where: "ClusterUpgrade upgrade", declared, runId: "upgrade@v1.35.4" };
  const fresh = formatPlan(planFromCluster(r, docCluster()).plan);
  const stopped = formatPlan(
    planFromCluster(r, docCluster({ stoppedAfter: ["cp-1", "cp-2", "cp-3", "w-1"], resume: "w-2" }))
      .plan,
  );
  for (const text of [fresh, stopped]) expect(md).toContain("```\n" + text + "\n```");
});

test("docs/pulumi.md index.ts type-checks against the library (tsconfig.json, strict)", () => {
  const root = path.join(__dirname, "../../..");
  const { code } = docProgram();
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(root, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  )!;
  const virtual = path.join(root, "test/unit/pulumi/__docs_pulumi_index__.ts");
  const host = ts.createCompilerHost(parsed.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, ...rest) =>
    f === virtual ? ts.createSourceFile(f, code, lang) : getSourceFile(f, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === virtual || fileExists(f);
  const program = ts.createProgram([virtual], { ...parsed.options, noEmit: true }, host);
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === virtual)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  expect(diagnostics).toEqual([]);
});
