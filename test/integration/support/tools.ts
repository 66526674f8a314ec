/**
 * Binaries and host tools the etcd / certificate integration tests run, and a small process
 * runner. A missing binary fails the test with the command that provides it (never a skip).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binaries, missingBinariesMessage, type Binaries } from "../../cluster/cluster";

/** The cached component binaries named, or an Error telling how to build the missing ones. */
export function requireBinaries<K extends keyof Binaries>(...names: K[]): Pick<Binaries, K> {
  const all = binaries();
  const missing = names.map((n) => all[n]).filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(missingBinariesMessage(missing));
  const out = {} as Pick<Binaries, K>;
  for (const n of names) out[n] = all[n];
  return out;
}

/** chroot and the static-pod stand-in need root; fail with the reason otherwise. */
export function requireRoot(why: string): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    throw new Error(`this test needs root (${why}); run the integration tests as root, as CI does`);
}

export const BUSYBOX = "/usr/bin/busybox";

/** A host tool from a Debian package, or an Error naming the package. */
export function requireHostTool(path: string, debianPackage: string): string {
  if (!existsSync(path))
    throw new Error(
      `${path} is missing: install it with \`apt-get install ${debianPackage}\` (.ci/run installs the test packages)`,
    );
  return path;
}

/**
 * Every busybox applet, linked into `<dir>/busybox-bin`. A PATH of only that directory runs a
 * script the way the CronJobs' `sh -c` steps run in the busybox image.
 */
export function busyboxBin(dir: string): string {
  requireHostTool(BUSYBOX, "busybox-static");
  const bin = join(dir, "busybox-bin");
  mkdirSync(bin, { recursive: true });
  const applets = spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" }).stdout.split("\n");
  for (const a of applets)
    if (/^[a-z0-9_.[-]+$/.test(a) && !existsSync(join(bin, a))) symlinkSync(BUSYBOX, join(bin, a));
  return bin;
}

/** A finished process (the tests' one result shape: this module's and the unit stubs'). */
export interface RunResult {
  readonly status: number | null;
  /** The signal that ended it (a timeout's kill), or null. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
  /** @default 120000 */
  readonly timeoutMs?: number;
}

/** Runs argv to completion (no shell in between). */
export function run(argv: readonly string[], opts: RunOptions = {}): RunResult {
  const r = spawnSync(argv[0], argv.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    input: opts.input,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== "ETIMEDOUT")
    throw new Error(`${argv.join(" ")}: ${r.error.message}`);
  // a timeout kills the process (as activeDeadlineSeconds would): status null, signal set
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? "",
    stderr: (r.stderr ?? "") + (r.signal ? `\n(killed by ${r.signal})` : ""),
  };
}

/** Like {@link run}, asynchronously (other processes of the test keep running meanwhile). */
export function runAsync(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], argv.slice(1), {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      // no stdin unless there is input: writing to a process that already exited is EPIPE
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout?.on("data", (b: Buffer) => (stdout += b.toString()));
    p.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    p.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
    if (p.stdin) {
      p.stdin.on("error", () => undefined); // the exit status tells what happened
      p.stdin.end(opts.input);
    }
  });
}

/** Runs argv and throws with its output unless it exits 0; returns stdout. */
export function runOk(argv: readonly string[], opts: RunOptions = {}): string {
  const r = run(argv, opts);
  if (r.status !== 0)
    throw new Error(`${argv.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A fresh temp dir; `cleanup` removes it (set KU_KEEP_TMP=1 to keep it for debugging). */
export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `ku-${prefix}-`));
  return {
    dir,
    cleanup() {
      if (process.env.KU_KEEP_TMP) process.stderr.write(`kept ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}
