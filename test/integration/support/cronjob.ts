/**
 * Takes a CronJob's commands from synthesized YAML and runs them outside a container the way
 * the pod would: init containers in order, then the main containers; the first failing step
 * fails the pod and later steps never run. Nothing is re-typed: the argv arrays are the ones in
 * the YAML `cdk8s synth` writes.
 */
import { mkdirSync, statSync } from "node:fs";
import { Chart, Testing } from "cdk8s";
import { parseAllDocuments } from "yaml";
import { run, runAsync, type RunResult } from "./tools";

export interface PodStep {
  readonly container: string;
  readonly init: boolean;
  readonly command: string[];
}

interface CronJobDoc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    schedule: string;
    jobTemplate: {
      spec: {
        template: {
          spec: {
            initContainers?: { name: string; command?: string[]; args?: string[] }[];
            containers: { name: string; command?: string[]; args?: string[] }[];
            volumes?: { name: string; hostPath?: { path: string; type?: string } }[];
          };
        };
      };
    };
  };
}

/** Synthesizes a chart built by `build` to YAML text (what `cdk8s synth` writes). */
export function synthYaml(build: (chart: Chart) => void): string {
  const app = Testing.app();
  const chart = new Chart(app, "test");
  build(chart);
  return app.synthYaml();
}

/** The CronJobs in synthesized YAML. */
export function cronJobsIn(yamlText: string): CronJobDoc[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as CronJobDoc)
    .filter((d) => d && d.kind === "CronJob");
}

/** The pod steps (init containers, then containers) of one CronJob, argv = command + args. */
export function podSteps(cronJob: CronJobDoc): PodStep[] {
  const spec = cronJob.spec.jobTemplate.spec.template.spec;
  const step = (c: { name: string; command?: string[]; args?: string[] }, init: boolean) => {
    if (!c.command || c.command.length === 0)
      throw new Error(
        `container ${c.name} has no command (the image entrypoint is not known here)`,
      );
    return { container: c.name, init, command: [...c.command, ...(c.args ?? [])] };
  };
  return [
    ...(spec.initContainers ?? []).map((c) => step(c, true)),
    ...spec.containers.map((c) => step(c, false)),
  ];
}

/**
 * What the kubelet does with the pod's hostPath volumes before any container starts:
 * `DirectoryOrCreate` directories are created (0755), `Directory` ones must exist.
 */
export function prepareHostPaths(cronJob: CronJobDoc): void {
  for (const v of cronJob.spec.jobTemplate.spec.template.spec.volumes ?? []) {
    if (!v.hostPath) continue;
    if (v.hostPath.type === "DirectoryOrCreate")
      mkdirSync(v.hostPath.path, { recursive: true, mode: 0o755 });
    else if (v.hostPath.type === "Directory" && !statSync(v.hostPath.path).isDirectory())
      throw new Error(`hostPath ${v.hostPath.path} of volume ${v.name} is not a directory`);
  }
}

export interface PodRun {
  /** True when every step exited 0. */
  readonly succeeded: boolean;
  /** The step that failed, if any. */
  readonly failed?: string;
  /** Each step run, in order (steps after a failure are absent). */
  readonly steps: (RunResult & { container: string })[];
  /** All output, for assertions and failure messages. */
  readonly output: string;
}

/**
 * Runs the steps as the pod would, with `env` as the containers' environment (its PATH decides
 * which `sh` runs a `sh -c` step).
 */
export function runPod(
  steps: readonly PodStep[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs?: number } = { env: process.env },
): PodRun {
  const results: (RunResult & { container: string })[] = [];
  for (const s of steps) {
    const r = run(s.command, { env: opts.env, timeoutMs: opts.timeoutMs ?? 180_000 });
    results.push({ ...r, container: s.container });
    if (r.status !== 0) {
      return { succeeded: false, failed: s.container, steps: results, output: render(results) };
    }
  }
  return { succeeded: true, steps: results, output: render(results) };
}

/** {@link runPod}, asynchronously: the test can watch the files while the pod runs. */
export async function runPodAsync(
  steps: readonly PodStep[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<PodRun> {
  const results: (RunResult & { container: string })[] = [];
  for (const s of steps) {
    const r = await runAsync(s.command, { env: opts.env, timeoutMs: opts.timeoutMs ?? 180_000 });
    results.push({ ...r, container: s.container });
    if (r.status !== 0)
      return { succeeded: false, failed: s.container, steps: results, output: render(results) };
  }
  return { succeeded: true, steps: results, output: render(results) };
}

function render(results: readonly (RunResult & { container: string })[]): string {
  return results
    .map((r) => `--- ${r.container} (exit ${r.status})\n${r.stdout}${r.stderr}`)
    .join("\n");
}
