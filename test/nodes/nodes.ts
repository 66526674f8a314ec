/**
 * The real-node cluster (test/nodes/nodes.sh) from TypeScript: `realNodesUp()` creates it at FROM
 * (building whatever is missing first) and returns its state; `realNodesDown()` removes it.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface RealNode {
  readonly name: string;
  readonly ip: string;
  readonly role: "control-plane" | "worker";
  /** "ssh-ed25519 AAAA..." */
  readonly hostKey: string;
}

export interface RealNodesState {
  readonly from: string;
  readonly to: string;
  readonly kubeconfig: string;
  /** The private key file that logs in as root on every node. */
  readonly sshKey: string;
  /** Base URL of the pkgs.k8s.io-shaped repository, as the nodes reach it. */
  readonly repository: string;
  readonly nodes: readonly RealNode[];
  /** The images imported on the control-plane nodes ("registry.kube-upkeep.local/etcd:3.6.16-0", ...). */
  readonly images?: readonly string[];
  /** The leaf certificates' lifetime kubeadm was given (`KU_NODES_CERT_VALIDITY`), e.g. "72h". */
  readonly certificateValidityPeriod?: string;
}

/** Options of a cluster made by {@link realNodesUp}. */
export interface RealNodesOptions {
  /**
   * Leaf certificate lifetime (kubeadm `certificateValidityPeriod`, whole hours such as "72h").
   *
   * @default - kubeadm's (a year)
   */
  readonly certificateValidity?: string;
}

export const NODES_SCRIPT = join(__dirname, "nodes.sh");
const CACHE = process.env.KU_CACHE ?? join(homedir(), ".cache", "kube-upkeep");
export const STATE_FILE = join(CACHE, "nodes", "run", "state.json");

/** Runs nodes.sh with its output streamed to `log` line by line; rejects with the last lines. */
export function nodesScript(
  args: readonly string[],
  log: (line: string) => void,
  env: Readonly<Record<string, string>> = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("bash", [NODES_SCRIPT, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    const tail: string[] = [];
    const onData = (b: Buffer) => {
      for (const line of b.toString().split("\n")) {
        if (line === "") continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        log(line);
      }
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", onData);
    p.on("error", reject);
    p.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              `test/nodes/nodes.sh ${args.join(" ")} exited with ${code} (needs root; builds: ` +
                `bash test/cluster/build.sh nodes). Last lines:\n${tail.join("\n")}`,
            ),
          ),
    );
  });
}

export async function realNodesUp(
  log: (line: string) => void,
  o: RealNodesOptions = {},
): Promise<RealNodesState> {
  await nodesScript(
    ["up"],
    log,
    o.certificateValidity ? { KU_NODES_CERT_VALIDITY: o.certificateValidity } : {},
  );
  return JSON.parse(readFileSync(STATE_FILE, "utf8")) as RealNodesState;
}

export function realNodesDown(log: (line: string) => void): Promise<void> {
  return nodesScript(["down"], log);
}

/** Runs a command in a node (nsenter into all its namespaces); resolves with stdout. */
export function inNode(node: string, cmd: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("bash", [NODES_SCRIPT, "exec", node, ...cmd], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (b: Buffer) => (out += b.toString()));
    p.stderr.on("data", (b: Buffer) => (err += b.toString()));
    p.on("error", reject);
    p.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`in node ${node}: ${cmd.join(" ")}: ${err}`)),
    );
  });
}
