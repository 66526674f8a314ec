/**
 * The package as a user gets it: `npm pack` of a fresh build, `npm install` of the tarball into
 * a scratch project, then the programs in ./consumer type-checked with tsc strict against the
 * built .d.ts (nodenext, so the `exports` map decides what resolves) and run against the built
 * JS: the cdk8s program synthesizes YAML, the Pulumi program's graph runs under
 * pulumi.runtime.setMocks.
 *
 * Offline: the build goes to a staging directory (package.json, README.md, dist-lib; the
 * shared dist-lib is not touched), the install is `npm install --offline` with the package's
 * dependencies and peers given to npm as `file:` links to this repository's node_modules, so no
 * registry is asked.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../cluster/cluster";

jest.setTimeout(120_000);

const run = promisify(execFile);
const FIXTURES = path.join(__dirname, "consumer");
const MODULES = fs.realpathSync(path.join(REPO_ROOT, "node_modules"));
const TSC = path.join(MODULES, "typescript", "bin", "tsc");

interface Manifest {
  name: string;
  version: string;
  files: string[];
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
}
const manifest = JSON.parse(
  fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"),
) as Manifest;

/** Runs a command; on failure the error carries its output. */
async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const r = await run(cmd, args, { cwd, maxBuffer: 32 << 20, env: process.env });
    return r.stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

/** `npm` on PATH, or a failure saying how to get it. */
async function npm(): Promise<string> {
  try {
    await run("npm", ["--version"]);
    return "npm";
  } catch {
    throw new Error(
      "npm is not on PATH: `source scripts/node-env.sh` (Node.js 24 with its npm) or install Node.js >= 22 with npm",
    );
  }
}

let work: string;
let app: string;
let packed: string[];

beforeAll(async () => {
  if (!fs.existsSync(TSC))
    throw new Error(
      `${TSC} is missing: run \`npm install\` in ${REPO_ROOT} (typescript is a devDependency)`,
    );
  const npmCmd = await npm();
  work = fs.mkdtempSync(path.join(os.tmpdir(), "ku-consumer-"));
  const stage = path.join(work, "stage");
  fs.mkdirSync(stage);
  fs.copyFileSync(path.join(REPO_ROOT, "package.json"), path.join(stage, "package.json"));
  fs.copyFileSync(path.join(REPO_ROOT, "README.md"), path.join(stage, "README.md"));
  await sh(
    process.execPath,
    [
      TSC,
      "-p",
      path.join(REPO_ROOT, "tsconfig.build.json"),
      "--outDir",
      path.join(stage, "dist-lib"),
    ],
    REPO_ROOT,
  );
  // prepare would build again into the repository's dist-lib: the staging build is the one
  const pack = JSON.parse(
    await sh(npmCmd, ["pack", "--ignore-scripts", "--json", "--pack-destination", work], stage),
  ) as { filename: string; files: { path: string }[] }[];
  packed = pack[0].files.map((f) => f.path);

  app = path.join(work, "app");
  fs.mkdirSync(app);
  const links = [...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)];
  const dependencies: Record<string, string> = {
    "kube-upkeep": `file:${path.join(work, pack[0].filename)}`,
    "@types/node": `file:${path.join(MODULES, "@types/node")}`,
  };
  for (const d of links) dependencies[d] = `file:${path.join(MODULES, d)}`;
  fs.writeFileSync(
    path.join(app, "package.json"),
    JSON.stringify({ name: "consumer", version: "1.0.0", private: true, dependencies }, null, 2),
  );
  await sh(npmCmd, ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], app);
  for (const f of fs.readdirSync(FIXTURES))
    fs.copyFileSync(path.join(FIXTURES, f), path.join(app, f));
  fs.writeFileSync(
    path.join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        noUnusedLocals: true,
        types: ["node"],
        outDir: "out",
        skipLibCheck: true,
      },
      files: fs.readdirSync(FIXTURES),
    }),
  );
});

afterAll(() => {
  if (work && !process.env.KU_KEEP_CONSUMER) fs.rmSync(work, { recursive: true, force: true });
});

test("the tarball holds dist-lib, package.json and README.md, and every export's files", () => {
  expect(new Set(packed.map((p) => p.split("/")[0]))).toEqual(
    new Set(["dist-lib", "package.json", "README.md"]),
  );
  const exports = (
    JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
      exports: Record<string, string | { types: string; default: string }>;
    }
  ).exports;
  for (const [subpath, target] of Object.entries(exports)) {
    const files = typeof target === "string" ? [target] : [target.types, target.default];
    for (const f of files)
      expect([subpath, packed.includes(f.replace(/^\.\//, ""))]).toEqual([subpath, true]);
  }
  // installed as a copy, as npm installs a tarball (not a link into the repository)
  expect(fs.lstatSync(path.join(app, "node_modules", "kube-upkeep")).isSymbolicLink()).toBe(false);
});

test("the programs type-check with tsc strict against the built .d.ts", async () => {
  // the @ts-expect-error lines in the programs fail the check when the types come out as any
  await sh(process.execPath, [TSC, "-p", "tsconfig.json"], app);
  expect(fs.existsSync(path.join(app, "out", "cdk8s-app.js"))).toBe(true);
});

test("the cdk8s program synthesizes a PodDisruptionBudget and the etcd backup CronJob", async () => {
  const outdir = path.join(work, "dist");
  const stdout = await sh(process.execPath, [path.join("out", "cdk8s-app.js"), outdir], app);
  expect(stdout).toContain("refused:");
  const docs = parseAllDocuments(
    fs.readFileSync(path.join(outdir, "maintenance.k8s.yaml"), "utf8"),
  ).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> },
  );
  const pdb = docs.find((d) => d.kind === "PodDisruptionBudget");
  expect(pdb?.spec).toEqual({
    maxUnavailable: 1,
    selector: { matchLabels: { app: "web" } },
    unhealthyPodEvictionPolicy: "AlwaysAllow",
  });
  const cronJobs = docs.filter((d) => d.kind === "CronJob");
  expect(cronJobs).toHaveLength(1);
  const job = JSON.stringify(cronJobs[0]);
  expect(job).toContain("etcdctl");
  expect(job).toContain("cp-1");
});

test("the Pulumi program's graph under setMocks: the upgrade with a NodeUpgrade per node", async () => {
  const lines = (await sh(process.execPath, [path.join("out", "pulumi-app.js")], app))
    .split("\n")
    .filter((l) => l.startsWith("consumer: "))
    .map((l) => JSON.parse(l.slice(10)) as { type?: string; name?: string; plan?: string });
  const plan = lines.find((l) => l.plan !== undefined)?.plan ?? "";
  expect(plan).toMatch(/cp-1/);
  expect(plan).toMatch(/w-1/);
  const byType = (t: string) =>
    lines
      .filter((l) => l.type === t)
      .map((l) => l.name)
      .sort();
  expect(byType("kube-upkeep:index:ClusterUpgrade")).toEqual(["upgrade"]);
  expect(byType("kube-upkeep:index:NodeUpgrade")).toEqual(["upgrade-cp-1", "upgrade-w-1"]);
  for (const kind of ["NodeDrain", "NodeReadyWait", "NodeUncordon", "NodeHealthGate"])
    expect([kind, lines.filter((l) => l.type?.endsWith(`:${kind}`)).length]).toEqual([kind, 2]);
  expect(byType("command:remote:Command")).toEqual([
    "upgrade-cp-1-preflight",
    "upgrade-cp-1-upgrade",
    "upgrade-etcd-snapshot",
    "upgrade-w-1-preflight",
    "upgrade-w-1-upgrade",
  ]);
});
