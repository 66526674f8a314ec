/**
 * waitNodeReady: the "the upgrade took effect" gate. Reads the node until it is Ready and its
 * kubelet reports the target version, or fails after the timeout with what it last saw.
 * Transient failures (the apiserver restarting with the control plane's upgrade, 5xx) and a
 * missing node (re-registering) are waited through; other answers (401, 403) fail at once.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { assertNodeName } from "../names";
import { type DrainClients, apiErrorMessage, apiStatusCode, makeClients } from "./client";
import { transientReason } from "./retry";

export const DEFAULT_READY_TIMEOUT_SECONDS = 600;
export const DEFAULT_READY_POLL_SECONDS = 2;

export interface ReadyWaitOptions {
  /** @default 600 */
  readonly timeoutSeconds?: number;
  /** @default 2 */
  readonly pollSeconds?: number;
  readonly signal?: AbortSignal;
}

export interface ReadyWaitResult {
  readonly kubeletVersion: string;
  readonly waitedMs: number;
}

export async function waitNodeReady(
  kc: KubeConfig | DrainClients,
  nodeName: string,
  targetVersion: string,
  opts: ReadyWaitOptions = {},
): Promise<ReadyWaitResult> {
  assertNodeName("waitNodeReady", nodeName);
  const { core } = "core" in kc ? kc : makeClients(kc);
  const timeoutMs = (opts.timeoutSeconds ?? DEFAULT_READY_TIMEOUT_SECONDS) * 1000;
  const pollMs = (opts.pollSeconds ?? DEFAULT_READY_POLL_SECONDS) * 1000;
  const started = Date.now();
  let last = "not read yet";
  for (;;) {
    try {
      const node = await core.readNode({ name: nodeName });
      const ready = (node.status?.conditions ?? []).find((c) => c.type === "Ready");
      const version = node.status?.nodeInfo?.kubeletVersion ?? "";
      last = `Ready=${ready?.status ?? "Unknown"}${ready?.reason ? ` (${ready.reason})` : ""}, kubelet ${version || "unknown"}`;
      if (ready?.status === "True" && version === targetVersion) {
        return { kubeletVersion: version, waitedMs: Date.now() - started };
      }
    } catch (e) {
      const code = apiStatusCode(e);
      last = `reading the node failed${code ? ` (HTTP ${code})` : ""}: ${apiErrorMessage(e)}`;
      if (code !== 404 && transientReason(e) === undefined) {
        throw new Error(`node ${nodeName}: ${last}. The node stays cordoned.`);
      }
    }
    if (Date.now() - started >= timeoutMs || opts.signal?.aborted) {
      throw new Error(
        `node ${nodeName}: not Ready at kubelet ${targetVersion} after ${Math.round(timeoutMs / 1000)}s ` +
          `(last seen: ${last}). The node stays cordoned; check the kubelet (journalctl -u kubelet) and re-run.`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
