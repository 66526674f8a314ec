/** jest globalTeardown of the integration project: deletes the cluster globalSetup started. */
import { stopCluster } from "./cluster";
import type { HarnessState } from "./global-setup";

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as { __kuHarness?: HarnessState }).__kuHarness;
  const name = state?.startedCluster;
  if (!name) return;
  if (process.env.KU_KEEP_CLUSTER === "1") {
    process.stderr.write(
      `[cluster] KU_KEEP_CLUSTER=1: leaving ${name} running (npx tsx test/cluster/cli.ts down ${name})\n`,
    );
    return;
  }
  await stopCluster(name);
}
