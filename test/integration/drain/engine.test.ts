/**
 * NodeDrain, NodeReadyWait and NodeUncordon through the real Pulumi engine (`pulumi up` / `destroy` via the
 * Automation API) against the local control plane: the provider is serialized into the state,
 * runs in the dynamic-provider host, loads kube-upkeep/core from the installed package, keeps
 * the kubeconfig secret, and drains / uncordons the node.
 *
 * kube-upkeep is installed into the program as a user's npm install leaves it: a fresh build of
 * lib/ (tsc -p tsconfig.build.json into a temp package with symlinks to the dependencies) COPIED
 * into the program's node_modules/kube-upkeep, so the serialized providers see the package at a
 * path inside node_modules (where Pulumi's closure serializer turns a captured module into a
 * `require` of its path, which the package's `exports` would refuse). The shared dist-lib is not
 * touched. The program imports the three resource files directly (relative path):
 * loading kube-upkeep/pulumi would pull @pulumi/command and @pulumi/kubernetes, whose provider
 * plugins the offline engine does not have.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CORDONED_BY_ANNOTATION } from "kube-upkeep/core";
import {
  buildPackage,
  installPackage,
  pulumiEngine,
  readTree,
  stackFor,
  writeProgram,
} from "../engine/pulumi-engine";
import { type DrainEnv, KUBELET_VERSION, drainEnv } from "./helpers";

jest.setTimeout(600_000);

const dirs: string[] = [];
let env: DrainEnv;

beforeAll(async () => {
  env = await drainEnv("drain-engine");
});
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await env?.cleanup();
});

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { NodeDrain } from "./node_modules/kube-upkeep/dist-lib/pulumi/node-drain";
import { NodeUncordon } from "./node_modules/kube-upkeep/dist-lib/pulumi/node-uncordon";
import { NodeReadyWait } from "./node_modules/kube-upkeep/dist-lib/pulumi/node-ready-wait";

const cfg = new pulumi.Config();
const kubeconfig = cfg.requireSecret("kubeconfig");
const nodeName = cfg.require("node");
const runId = cfg.require("runId");
const drain = new NodeDrain("drain", {
  nodeName,
  kubeconfig,
  runId,
  options: { timeoutSeconds: 120, retryIntervalMs: 500 },
});
export const evictedPods = drain.evictedPods;
export const cordonedByUs = drain.cordonedByUs;
export const drainUrn = drain.urn;
const ready = new NodeReadyWait(
  "ready",
  { nodeName, kubeconfig, targetVersion: cfg.require("kubelet"), timeoutSeconds: 60 },
  { dependsOn: [drain] },
);
export const readyKubelet = ready.kubeletVersion;
const u = cfg.getBoolean("uncordon")
  ? new NodeUncordon("uncordon", { nodeName, kubeconfig, runId }, { dependsOn: [drain] })
  : undefined;
export const uncordonOutcome = u ? u.outcome : "none";
`;

test("pulumi up drains (secret kubeconfig, logs), a second up uncordons, destroy leaves the node schedulable", async () => {
  const backend = mkdtempSync(join(tmpdir(), "ku-pulumi-state-"));
  const engine = pulumiEngine(undefined, backend);
  const { a, pods } = await env.podsToEvict("eng", "ew");
  const kubeconfig = readFileSync(process.env.KUBECONFIG ?? "", "utf8");
  const keyMarker =
    /client-key-data: (\S{40})/.exec(kubeconfig)?.[1] ?? "no-client-key-in-kubeconfig";

  const pkg = await buildPackage("pulumi/node-drain.js", ["@pulumi/pulumi"]);
  const workDir = writeProgram("ku-drain-engine", { "index.ts": PROGRAM });
  installPackage(workDir, pkg);
  dirs.push(pkg);
  dirs.push(workDir, backend);

  const stack = await stackFor(engine, workDir, "dev");
  await stack.setAllConfig({
    kubeconfig: { value: kubeconfig, secret: true },
    node: { value: a },
    runId: { value: "engine-run-1" },
    kubelet: { value: KUBELET_VERSION },
    uncordon: { value: "false" },
  });

  const up = await stack.up();
  expect(up.summary.result).toBe("succeeded");
  expect(up.outputs.drainUrn.value).toContain(
    "::pulumi-nodejs:dynamic/kube-upkeep:NodeDrain::drain",
  );
  expect([...(up.outputs.evictedPods.value as string[])].sort()).toEqual(
    pods.map((p) => `${env.ns}/${p.metadata?.name}`).sort(),
  );
  expect(up.outputs.cordonedByUs.value).toBe(true);
  expect(up.outputs.readyKubelet.value).toBe(KUBELET_VERSION);
  expect(up.stdout).toContain(`NodeDrain ${a}: node/${a} cordoned`);
  let node = await env.readNode(a);
  expect(node.spec?.unschedulable).toBe(true);
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("engine-run-1");
  const state = readTree(backend);
  expect(state).toContain("pulumi-nodejs:dynamic/kube-upkeep:NodeDrain");
  expect(state).not.toContain(keyMarker);
  expect(up.stdout).not.toContain(keyMarker);

  // nothing to do on a second preview
  const again = await stack.preview();
  expect(again.changeSummary).toEqual({ same: 3 });

  await stack.setConfig("uncordon", { value: "true" });
  const up2 = await stack.up();
  expect(up2.summary.result).toBe("succeeded");
  expect(up2.outputs.uncordonOutcome.value).toBe("uncordoned");
  node = await env.readNode(a);
  expect(node.spec?.unschedulable).toBeFalsy();
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();

  const down = await stack.destroy();
  expect(down.summary.result).toBe("succeeded");
  expect((await env.readNode(a)).spec?.unschedulable).toBeFalsy();
  await stack.workspace.removeStack("dev");
});
