/**
 * `npm run demo -- --real-nodes [--keep]`: the same roll as the kwok demo, on the harness's real
 * kubeadm nodes (test/nodes/nodes.sh: systemd, sshd, containerd and kubelets installed by apt),
 * with the rendered preflight and upgrade scripts: FROM -> TO. See docs/demo.md and
 * docs/real-nodes.md.
 */
import { spawnSync } from "node:child_process";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { REPO_ROOT } from "../test/cluster/cluster";
import {
  buildLibrary,
  checkPrerequisites,
  DEMO_ENGINE_BINARIES,
} from "../test/e2e/simulated-cluster";
import { realNodesDown, realNodesUp } from "../test/nodes/nodes";
import { createRealNodesStack, type RealNodesStack } from "../test/nodes/real-stack";

export async function realNodesDemo(o: {
  keep: boolean;
  say: (line: string) => void;
}): Promise<boolean> {
  const { say } = o;
  checkPrerequisites(DEMO_ENGINE_BINARIES);
  say("building what the real nodes need (bash test/cluster/build.sh nodes; cached when built)");
  const b = spawnSync("bash", ["test/cluster/build.sh", "nodes"], {
    cwd: REPO_ROOT,
    stdio: "inherit",
  });
  if (b.status !== 0) throw new Error(`test/cluster/build.sh nodes exited with ${b.status}`);
  await buildLibrary();
  let real: RealNodesStack | undefined;
  try {
    const setup = Date.now();
    const state = await realNodesUp(say);
    say(
      `real nodes up at ${state.from} in ${((Date.now() - setup) / 1000).toFixed(0)}s (KUBECONFIG=${state.kubeconfig})`,
    );
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    real = await createRealNodesStack(state, "demo-real");
    say(
      `remote.Command through the ${real.standInCommandProvider ? "STAND-IN" : "built"} pulumi-resource-command; packages from ${real.repositoryTemplate}`,
    );
    say("pulumi preview");
    await real.stack.preview({ onOutput: (s) => process.stdout.write(s) });
    say(`pulumi up: ${state.from} -> ${state.to} (preflight, etcd snapshot, then node by node)`);
    const t0 = Date.now();
    const up = await real.stack.up({ onOutput: (s) => process.stdout.write(s) });
    const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
    process.stdout.write(
      [
        "",
        "Summary (read from the cluster)",
        ...nodes.map(
          (n) =>
            `  ${n.metadata?.name}: kubelet ${n.status?.nodeInfo?.kubeletVersion}, Ready ${n.status?.conditions?.find((c) => c.type === "Ready")?.status}, schedulable ${n.spec?.unschedulable ? "no" : "yes"}`,
        ),
        `etcd snapshot on ${state.nodes[0]?.name}: ${String(up.outputs.etcdSnapshotPath?.value ?? "").trim()}`,
        `pulumi up: ${((Date.now() - t0) / 1000).toFixed(0)}s; result: ${up.summary.result}`,
        "",
      ].join("\n"),
    );
    return nodes.every((n) => n.status?.nodeInfo?.kubeletVersion === state.to);
  } finally {
    await real?.dispose();
    if (o.keep) say("--keep: real nodes left running; remove them with: npm run nodes:down");
    else await realNodesDown(say).catch((e: unknown) => say(`teardown: ${String(e)}`));
  }
}
