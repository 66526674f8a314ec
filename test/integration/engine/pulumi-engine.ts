/**
 * The Pulumi engine that test/cluster/build-pulumi.sh builds from Go modules and caches in
 * $KU_CACHE/pulumi/bin (KU_CACHE defaults to ~/.cache/kube-upkeep), with the environment that
 * runs it offline: a local file backend, passphrase secrets, no update checks, no plugin
 * downloads (providers are ambient plugins on PATH). Same settings as scripts/pulumi-env.sh.
 */
import { execFile } from "node:child_process";
import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import { CACHE_DIR, REPO_ROOT, versionsEnv } from "../../cluster/cluster";
import { promisify } from "node:util";

/** Root of the repository (its node_modules is what test programs use). */
export { REPO_ROOT };

/** Where test/cluster/build-pulumi.sh caches the engine ($KU_CACHE/pulumi/bin). */
export const ENGINE_BIN = join(CACHE_DIR, "pulumi", "bin");

/** Passphrase of the test stacks' secrets provider. */
export const TEST_PASSPHRASE = "kube-upkeep-test";

export const BUILD_COMMAND = "bash test/cluster/build-pulumi.sh";

export interface PulumiEngine {
  /** $KU_CACHE/pulumi: `PulumiCommand.get({ root })` runs root/bin/pulumi. */
  readonly root: string;
  readonly bin: string;
  /** Environment for the CLI (and the language host and providers it starts). */
  readonly envVars: Record<string, string>;
  /** Version the CLI was built at (PULUMI_VERSION in test/cluster/versions.env, without "v"). */
  readonly version: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Names of the engine binaries a test needs that are not in the cache. */
export function missingEngineBinaries(bin: string, names: readonly string[]): string[] {
  return names.filter((n) => !isExecutable(join(bin, n)));
}

/**
 * The cached engine; throws with the command that builds it when one of `required` is missing.
 * `backendDir` is the file backend's directory (a fresh temp dir by default).
 */
export function pulumiEngine(
  required: readonly string[] = [
    "pulumi",
    "pulumi-language-nodejs",
    "pulumi-resource-pulumi-nodejs",
  ],
  backendDir?: string,
): PulumiEngine {
  const bin = ENGINE_BIN;
  const root = dirname(bin);
  const missing = missingEngineBinaries(bin, required);
  if (missing.length > 0) {
    throw new Error(
      `Pulumi engine binaries missing in ${bin}: ${missing.join(", ")}. ` +
        `Build them (cached by version, a cold build takes minutes) with: ${BUILD_COMMAND} ` +
        `(see docs/pulumi-engine.md)`,
    );
  }
  const nodeMajor = Number(process.versions.node.split(".")[0]);
  if (nodeMajor < 22) {
    throw new Error(
      `the language host runs programs with this Node.js (${process.version}); @pulumi/pulumi needs >= 22. ` +
        `Run the tests through Node 24: source scripts/node-env.sh (npm test does)`,
    );
  }
  const home = join(root, "home");
  mkdirSync(home, { recursive: true });
  const backend = backendDir ?? mkdtempSync(join(tmpdir(), "ku-pulumi-state-"));
  mkdirSync(backend, { recursive: true });
  const version = (versionsEnv().PULUMI_VERSION ?? "").replace(/^v/, "");
  return {
    root,
    bin,
    version,
    envVars: {
      // the cached engine first, then the Node.js running this test (the language host runs `node`)
      PATH: [bin, dirname(process.execPath), process.env.PATH ?? ""].join(":"),
      PULUMI_HOME: home,
      PULUMI_BACKEND_URL: `file://${backend}`,
      PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      // ts-node transpiles without a type check: a check per run costs tens of seconds on 2 cores
      PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    },
  };
}

/** Packages every test program gets: the SDK and the Node.js types its type check needs. */
export const BASE_PACKAGES = ["@pulumi/pulumi", "@types/node"] as const;

/**
 * A Pulumi TypeScript project in a fresh temp dir: Pulumi.yaml (runtime nodejs), package.json,
 * tsconfig.json, the given files, and a node_modules holding symlinks to the repository's copies
 * of BASE_PACKAGES and `packages` (their own dependencies resolve from the repository, where the
 * symlinks point). Only those: the language host walks the whole node_modules tree for Pulumi
 * packages on every run, and a short tree keeps that walk fast.
 * Returns the project's directory.
 */
export function writeProgram(
  name: string,
  files: Record<string, string>,
  packages: readonly string[] = [],
): string {
  const dir = mkdtempSync(join(tmpdir(), `ku-${name}-`));
  writeFileSync(
    join(dir, "Pulumi.yaml"),
    `name: ${name}\nruntime:\n  name: nodejs\n  options:\n    typescript: true\ndescription: kube-upkeep engine test\n`,
  );
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name, version: "0.0.0", private: true, main: "index.ts" }, null, 2) + "\n",
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "commonjs",
          moduleResolution: "node",
          strict: true,
          esModuleInterop: true,
          skipLibCheck: true,
          types: ["node"],
        },
        files: ["index.ts"],
      },
      null,
      2,
    ) + "\n",
  );
  for (const pkg of [...BASE_PACKAGES, ...packages]) {
    const target = join(REPO_ROOT, "node_modules", pkg);
    if (!existsSync(target))
      throw new Error(`${pkg} is not installed in ${REPO_ROOT}/node_modules: run npm ci`);
    mkdirSync(dirname(join(dir, "node_modules", pkg)), { recursive: true });
    symlinkSync(target, join(dir, "node_modules", pkg), "dir");
  }
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

/** Every file under dir (a file backend's state), as one string: to check what the state holds. */
export function readTree(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out += statSync(p).isDirectory() ? readTree(p) : readFileSync(p, "utf8");
  }
  return out;
}

/**
 * A kube-upkeep package built from lib/ into a fresh temp dir (package.json + dist-lib, tsc -p
 * tsconfig.build.json), its dependencies and `peers` symlinked from the repository's
 * node_modules; the shared dist-lib is not touched. `expectFile` (relative to dist-lib) must
 * exist afterwards. Returns the package directory (the caller removes it).
 */
export async function buildPackage(expectFile: string, peers: readonly string[]): Promise<string> {
  const pkg = mkdtempSync(join(tmpdir(), "ku-pkg-"));
  await promisify(execFile)(
    join(REPO_ROOT, "node_modules/.bin/tsc"),
    ["-p", join(REPO_ROOT, "tsconfig.build.json"), "--outDir", join(pkg, "dist-lib")],
    { cwd: REPO_ROOT, maxBuffer: 16 << 20 },
  ).catch(() => {
    // type errors elsewhere in the tree still emit; only a missing output is fatal (below)
  });
  statSync(join(pkg, "dist-lib", expectFile));
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  writeFileSync(join(pkg, "package.json"), JSON.stringify(manifest, null, 2));
  for (const dep of [...Object.keys(manifest.dependencies), ...peers]) {
    const link = join(pkg, "node_modules", dep);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(REPO_ROOT, "node_modules", dep), link, "dir");
  }
  return pkg;
}

/**
 * Installs the package built by buildPackage into a program the way `npm install` leaves it: a
 * copy in node_modules/kube-upkeep (not a link), so the dynamic providers are serialized from a
 * path inside node_modules, as in a user's project.
 */
export function installPackage(programDir: string, pkg: string): void {
  cpSync(pkg, join(programDir, "node_modules", "kube-upkeep"), {
    recursive: true,
    verbatimSymlinks: true,
  });
}

/** The stack `stackName` of the program in `workDir`, run by `engine` (passphrase secrets). */
export async function stackFor(
  engine: PulumiEngine,
  workDir: string,
  stackName: string,
): Promise<Stack> {
  const pulumiCommand = await PulumiCommand.get({ root: engine.root });
  return LocalWorkspace.createOrSelectStack(
    { stackName, workDir },
    { pulumiCommand, envVars: engine.envVars, secretsProvider: "passphrase" },
  );
}
