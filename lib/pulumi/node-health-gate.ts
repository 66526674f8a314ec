/**
 * NodeHealthGate: a dynamic resource whose create runs a node's health checks after its
 * uncordon (lib/core/health: pods Ready, a workload rolled out, an HTTP(S) status, a Prometheus
 * query with no series), each with its own timeout and interval, all at once. It is created only
 * when every check passed: ClusterUpgrade makes the next node of the chain depend on it, so a
 * failing check stops the roll before that node, and the error lists each failed check with what
 * it last saw. Each check is recorded in the roll report (`health-gate` records); the node gets a
 * HealthGatePassed or Failed Event and the kube-upkeep.io/upgrade annotation's step "healthy".
 *
 * Lifecycle: create = run the checks; a new node or `trigger` (the target version) replaces it
 * (runs them again); changed checks are recorded only (a gate is a moment's check: it does not
 * run again on a node that passed it); delete does nothing. Checks of kind `command` run over SSH
 * as remote.Commands before the gate (see ClusterUpgrade), not here.
 *
 * The kubeconfig is an input only (secret); the checks are stored as a secret when any carries
 * headers (an Authorization header). Serialization: see provider-runtime.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtime from "./provider-runtime";
import type { ApiHealthCheck } from "../core/health/checks";
import type { NodeProgressTarget } from "../core/progress/reporter";
import type { StepReportTarget } from "../core/report/recorder";

export const NODE_HEALTH_GATE_TYPE = "pulumi-nodejs:dynamic/kube-upkeep:NodeHealthGate";

const loadCore = runtime.loadCore;
const log = runtime.providerLog;

export interface NodeHealthGateArgs {
  /** The node the gate follows (named in events, the report and errors). */
  readonly nodeName: pulumi.Input<string>;
  /** kubeconfig YAML (made secret). */
  readonly kubeconfig: pulumi.Input<string>;
  /** The checks (not `command`: those are remote.Commands). */
  readonly checks: readonly ApiHealthCheck[];
  /** Anything whose change should run the checks again (ClusterUpgrade: the target version). */
  readonly trigger?: pulumi.Input<string>;
  /** Record each check in this roll report run; never causes an update. */
  readonly report?: pulumi.Input<StepReportTarget>;
  /** Events and the annotation's step "healthy" (lib/core/progress); never causes an update. */
  readonly progress?: pulumi.Input<NodeProgressTarget>;
}

interface GateInputs {
  nodeName: string;
  kubeconfig: string;
  checks: ApiHealthCheck[];
  trigger?: string;
  report?: StepReportTarget;
  progress?: NodeProgressTarget;
}

interface GateOutputs {
  nodeName: string;
  checks: ApiHealthCheck[];
  trigger?: string;
  /** "<name>: <what it saw>" per check, in order. */
  results: string[];
  durationMs: number;
}

/** The dynamic provider (exported so tests can call create directly against a cluster). */
export const nodeHealthGateProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: GateInputs, news: GateInputs): Promise<pulumi.dynamic.CheckResult> {
    const core = loadCore();
    const failures: pulumi.dynamic.CheckFailure[] = [];
    try {
      const checks = core.validateHealthChecks("NodeHealthGate", "checks", news.checks);
      if (checks.some((c) => c.kind === "command"))
        failures.push({
          property: "checks",
          reason:
            "NodeHealthGate: checks of kind command run over SSH (ClusterUpgrade makes them remote.Commands), not in the gate",
        });
    } catch (e) {
      const errs = e instanceof core.ValidationErrors ? e.errors : [e];
      for (const err of errs)
        failures.push({
          property: "checks",
          reason: err instanceof Error ? err.message : String(err),
        });
    }
    if (typeof news.kubeconfig !== "string" || news.kubeconfig.trim() === "")
      failures.push({
        property: "kubeconfig",
        reason: "NodeHealthGate: kubeconfig must be the kubeconfig YAML text",
      });
    return { inputs: news, failures };
  },

  async create(inputs: GateInputs): Promise<pulumi.dynamic.CreateResult<GateOutputs>> {
    const core = loadCore();
    const say = (level: "info" | "warn", m: string) =>
      log(level, `NodeHealthGate ${inputs.nodeName}: ${m}`);
    const kc = core.clientsFromYaml(inputs.kubeconfig);
    const shown = core.nodeProgress(kc, inputs.nodeName, inputs.progress, (m) => say("warn", m));
    const record = core.healthGateRecorder(inputs.report, inputs.nodeName, (m) => say("warn", m));
    const started = Date.now();
    say(
      "info",
      `${inputs.checks.length} check(s): ${inputs.checks.map(core.healthCheckName).join("; ")}`,
    );
    const results = await core.runHealthChecks(kc, inputs.checks, {
      onResult: (r) => {
        record(r);
        say(
          r.passed ? "info" : "warn",
          `${r.passed ? "passed" : "FAILED"}: ${r.name}: ${r.message}`,
        );
      },
    });
    if (results.some((r) => !r.passed)) {
      const error = core.healthGateError(inputs.nodeName, results);
      shown.failed("health gate", error);
      await shown.flush();
      throw error;
    }
    shown.event(
      "HealthGatePassed",
      `${results.length} health check(s) passed: ${results.map((r) => `${r.name} (${r.message})`).join("; ")}`,
    );
    shown.step("healthy");
    await shown.flush();
    return {
      id: `${inputs.nodeName}@${inputs.trigger ?? ""}`,
      outs: {
        nodeName: inputs.nodeName,
        checks: inputs.checks,
        trigger: inputs.trigger,
        results: results.map((r) => `${r.name}: ${r.message}`),
        durationMs: Date.now() - started,
      },
    };
  },

  async diff(_id: string, olds: GateOutputs, news: GateInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = (["nodeName", "trigger"] as const).filter(
      (k) => (olds[k] ?? "") !== (news[k] ?? ""),
    );
    const changes =
      replaces.length > 0 || JSON.stringify(olds.checks) !== JSON.stringify(news.checks);
    return { changes, replaces, deleteBeforeReplace: true };
  },

  async update(
    _id: string,
    olds: GateOutputs,
    news: GateInputs,
  ): Promise<pulumi.dynamic.UpdateResult> {
    // a changed check list is recorded; the node passed its gate already
    return { outs: { ...olds, checks: news.checks } };
  },

  async delete(): Promise<void> {
    // Nothing to undo.
  },
};

/** Runs health checks once, after `dependsOn` (ClusterUpgrade: the node's uncordon). */
export class NodeHealthGate extends pulumi.dynamic.Resource {
  declare public readonly nodeName: pulumi.Output<string>;
  /** "<name>: <what it saw>" per check. */
  declare public readonly results: pulumi.Output<string[]>;
  declare public readonly durationMs: pulumi.Output<number>;

  constructor(name: string, args: NodeHealthGateArgs, opts?: pulumi.CustomResourceOptions) {
    const withHeaders = args.checks.some(
      (c) => (c.kind === "http" || c.kind === "prometheus") && c.headers !== undefined,
    );
    super(
      nodeHealthGateProvider,
      name,
      {
        nodeName: args.nodeName,
        kubeconfig: pulumi.secret(args.kubeconfig),
        checks: withHeaders ? pulumi.secret(args.checks) : args.checks,
        trigger: args.trigger,
        report: args.report,
        progress: args.progress,
        results: undefined,
        durationMs: undefined,
      },
      opts,
      "kube-upkeep",
      "NodeHealthGate",
    );
  }
}
