/**
 * The `pulumi` CLI run as a user runs it, for the e2e tests that kill it (the Automation API
 * hides the CLI's pid): runs on a demo stack, the kill itself, and the recovery of an interrupted
 * run as docs/pulumi.md "Interrupted runs" gives it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../cluster/cluster";
import { descendants, type Proc } from "./processes";
import type { DemoStack } from "./simulated-cluster";
import type { NodeEvent, NodeTimeline } from "./watchers";

export interface Run {
  readonly child: ChildProcess;
  output: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface PulumiCli {
  /** Starts `pulumi <args> --stack <stack>` with the stack's environment. */
  run(args: string[]): Run;
  /** Runs `pulumi args` to the end; throws with its output when it fails. */
  ok(args: string[]): Promise<string>;
}

/** The cached `pulumi` CLI on the demo stack. */
export function pulumiCli(demo: DemoStack, stackName: string): PulumiCli {
  const run = (args: string[]): Run => {
    const child = spawn(join(demo.engine.bin, "pulumi"), [...args, "--stack", stackName], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...demo.envVars },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const r: Run = {
      child,
      output: "",
      exit: new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal }))),
    };
    child.stdout!.on("data", (b: Buffer) => (r.output += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (r.output += b.toString()));
    return r;
  };
  return {
    run,
    async ok(args) {
      const r = run(args);
      const { code, signal } = await r.exit;
      if (code !== 0)
        throw new Error(`pulumi ${args.join(" ")} exited ${code ?? signal}:\n${r.output}`);
      return r.output;
    },
  };
}

/** `pulumi up` as a user starts it, with no prompt. */
export const UP = ["up", "--yes", "--skip-preview", "--non-interactive"];

/** Resolves with the n-th recorded node event matching `pred`; rejects when `run` exits first. */
export async function nthEvent(
  nodes: NodeTimeline,
  pred: (e: NodeEvent) => boolean,
  n: number,
  run: Run,
  timeoutMs = 300_000,
): Promise<NodeEvent> {
  const e = await until(() => nodes.events.filter(pred)[n - 1], run, timeoutMs, `node event #${n}`);
  return e;
}

/** Resolves with `probe()`'s first defined value; rejects when `run` exits first or on timeout. */
export async function until<T>(
  probe: () => T | undefined,
  run: Run,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void run.exit.then(() => (exited = true));
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (exited) throw new Error(`pulumi ended before ${what}:\n${run.output}`);
    if (Date.now() > deadline) throw new Error(`no ${what} in ${timeoutMs} ms:\n${run.output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * SIGKILL to the CLI process only, as a dying CI runner or `kill -9` does. Returns the plugin
 * processes it had started: they outlive it (each in its own process group) and go on working
 * until stopped (processes.ts stopProcesses).
 */
export async function killCli(run: Run): Promise<Proc[]> {
  const plugins = descendants(run.child.pid!);
  process.kill(run.child.pid!, "SIGKILL");
  const { signal } = await run.exit;
  if (signal !== "SIGKILL") throw new Error(`pulumi exited before the kill:\n${run.output}`);
  return plugins;
}

/** "<op> <resource name>" of each pending operation in the stack's state. */
export async function pendingOperations(cli: PulumiCli): Promise<string[]> {
  const exported = JSON.parse(await cli.ok(["stack", "export"])) as {
    deployment: { pending_operations?: { type: string; resource: { urn: string } }[] };
  };
  return (exported.deployment.pending_operations ?? []).map(
    (p) => `${p.type} ${p.resource.urn.split("::").pop()}`,
  );
}

/** The outputs of the resource named `name` in the stack's state. */
export async function resourceOutputs(
  cli: PulumiCli,
  name: string,
): Promise<Record<string, unknown> | undefined> {
  const exported = JSON.parse(await cli.ok(["stack", "export"])) as {
    deployment: { resources?: { urn: string; outputs?: Record<string, unknown> }[] };
  };
  return (exported.deployment.resources ?? []).find((r) => r.urn.endsWith(`::${name}`))?.outputs;
}

/**
 * Step 3 of docs/pulumi.md "Interrupted runs" before the final `pulumi up`: `pulumi cancel` when
 * the backend still holds the dead run's lock, then `pulumi refresh --clear-pending-creates`.
 * Returns whether the lock had to be cancelled.
 */
export async function clearInterruptedRun(cli: PulumiCli): Promise<{ cancelled: boolean }> {
  const refresh = [
    "refresh",
    "--clear-pending-creates",
    "--yes",
    "--skip-preview",
    "--non-interactive",
  ];
  const first = cli.run(refresh);
  const r = await first.exit;
  if (r.code === 0) return { cancelled: false };
  if (!/locked/i.test(first.output)) throw new Error(`pulumi refresh failed:\n${first.output}`);
  await cli.ok(["cancel", "--yes", "--non-interactive"]);
  await cli.ok(refresh);
  return { cancelled: true };
}
