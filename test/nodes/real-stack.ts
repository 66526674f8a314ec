/**
 * A stack of examples/pulumi-real-nodes (ClusterUpgrade with the rendered upgrade script) on a
 * fresh local backend, configured for the harness's real-node cluster. Used by the real-node e2e
 * and `npm run demo -- --real-nodes`.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import { REPO_ROOT } from "../cluster/cluster";
import { pulumiEngine } from "../integration/engine/pulumi-engine";
import {
  commandProvider,
  DEMO_ENGINE_BINARIES,
  STANDIN_COMMAND_PROVIDER_DIR,
} from "../e2e/simulated-cluster";
import type { RealNodesState } from "./nodes";

export const REAL_NODES_PROGRAM = join(REPO_ROOT, "examples/pulumi-real-nodes");

export interface RealNodesStack {
  readonly stack: Stack;
  readonly standInCommandProvider: boolean;
  /** The pkgs.k8s.io-shaped template of the harness's repository ({minor} -> v1.35). */
  readonly repositoryTemplate: string;
  dispose(): Promise<void>;
}

export async function createRealNodesStack(
  state: RealNodesState,
  stackName: string,
  o: { maxUnavailable?: number } = {},
): Promise<RealNodesStack> {
  const backend = mkdtempSync(join(tmpdir(), "ku-real-nodes-state-"));
  const engine = pulumiEngine(DEMO_ENGINE_BINARIES, backend);
  const provider = commandProvider(engine);
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, workDir: REAL_NODES_PROGRAM },
    {
      pulumiCommand: await PulumiCommand.get({ root: engine.root }),
      envVars: {
        ...engine.envVars,
        ...(provider.standIn
          ? { PATH: `${STANDIN_COMMAND_PROVIDER_DIR}:${engine.envVars.PATH}` }
          : {}),
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
      },
      secretsProvider: "passphrase",
    },
  );
  const repositoryTemplate = `${state.repository}/core:/stable:/{minor}/deb/`;
  await stack.setAllConfig({
    nodes: {
      value: JSON.stringify(
        state.nodes.map((n) => ({ name: n.name, role: n.role, host: n.ip, hostKey: n.hostKey })),
      ),
    },
    targetVersion: { value: state.to },
    currentVersion: { value: state.from },
    maxUnavailable: { value: String(o.maxUnavailable ?? 1) },
    packageRepository: { value: repositoryTemplate },
    // the harness's nodes are cgroup v1 with failCgroupV1: false on purpose: kubeadm must be told
    kubeadmFlags: { value: JSON.stringify(["--ignore-preflight-errors=SystemVerification"]) },
    kubeconfig: { value: readFileSync(state.kubeconfig, "utf8"), secret: true },
    sshPrivateKey: { value: readFileSync(state.sshKey, "utf8"), secret: true },
  });
  return {
    stack,
    standInCommandProvider: provider.standIn,
    repositoryTemplate,
    dispose: async () => {
      await stack.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
      rmSync(backend, { recursive: true, force: true });
    },
  };
}
