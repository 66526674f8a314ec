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
export const NODE_ROLLBACK_PROGRAM = join(REPO_ROOT, "test/e2e/programs/node-rollback");

export interface RealNodesStack {
  readonly stack: Stack;
  readonly standInCommandProvider: boolean;
  /** The pkgs.k8s.io-shaped template of the harness's repository ({minor} -> v1.35). */
  readonly repositoryTemplate: string;
  dispose(): Promise<void>;
}

/** A stack of `program` on a fresh local backend, with the engine and command provider set. */
async function programStack(program: string, stackName: string) {
  const backend = mkdtempSync(join(tmpdir(), "ku-real-nodes-state-"));
  const engine = pulumiEngine(DEMO_ENGINE_BINARIES, backend);
  const provider = commandProvider(engine);
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, workDir: program },
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
  const dispose = async () => {
    await stack.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
    rmSync(backend, { recursive: true, force: true });
  };
  return { stack, standIn: provider.standIn, dispose };
}

export async function createRealNodesStack(
  state: RealNodesState,
  stackName: string,
  o: { maxUnavailable?: number } = {},
): Promise<RealNodesStack> {
  const { stack, standIn, dispose } = await programStack(REAL_NODES_PROGRAM, stackName);
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
  return { stack, standInCommandProvider: standIn, repositoryTemplate, dispose };
}

/** What a stack of test/e2e/programs/node-rollback does: NodeUpgrade or NodeRollback per node. */
export interface NodeRollbackStackOptions {
  readonly action: "upgrade" | "rollback";
  /** upgrade: the target; rollback: the previous version. */
  readonly version: string;
  /** In order; control plane: the etcd snapshot to restore. */
  readonly nodes: readonly { readonly name: string; readonly etcdSnapshot?: string }[];
  readonly readyTimeoutSeconds?: number;
}

export async function createNodeRollbackStack(
  state: RealNodesState,
  stackName: string,
  o: NodeRollbackStackOptions,
): Promise<{ stack: Stack; dispose(): Promise<void> }> {
  const { stack, dispose } = await programStack(NODE_ROLLBACK_PROGRAM, stackName);
  const byName = new Map(state.nodes.map((n) => [n.name, n]));
  await stack.setAllConfig({
    action: { value: o.action },
    version: { value: o.version },
    nodes: {
      value: JSON.stringify(
        o.nodes.map(({ name, etcdSnapshot }) => {
          const n = byName.get(name)!;
          return {
            name,
            role: n.role,
            host: n.ip,
            hostKey: n.hostKey,
            ...(etcdSnapshot ? { etcdSnapshot, peerUrl: `https://${n.ip}:2380` } : {}),
          };
        }),
      ),
    },
    packageRepository: { value: `${state.repository}/core:/stable:/{minor}/deb/` },
    kubeadmFlags: { value: JSON.stringify(["--ignore-preflight-errors=SystemVerification"]) },
    readyTimeoutSeconds: { value: String(o.readyTimeoutSeconds ?? 300) },
    kubeconfig: { value: readFileSync(state.kubeconfig, "utf8"), secret: true },
    sshPrivateKey: { value: readFileSync(state.sshKey, "utf8"), secret: true },
  });
  return { stack, dispose };
}
