/**
 * Fake kubeadm nodes for the e2e tests that run the real rendered upgrade script over SSH (the
 * demo program's `nodeTools`): per node, `<dir>/<node>/bin` holds the node tools of
 * test/unit/core/scripts/stubs.ts writeNodeTools (apt-get, apt-mark, kubeadm, kubelet,
 * systemctl, ... recording every run in `<dir>/<node>/tools.log`, versions in
 * `<dir>/<node>/state`), whose `systemctl restart kubelet` makes the kwok node report the new
 * kubelet version, and whose `kubeadm upgrade` prints, takes `kubeadmUpgradeSeconds` and then
 * records "kubeadm upgrade <apply|node> done": a run cut short shows as started, not done.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binaries } from "../cluster/cluster";
import { cmdline } from "./processes";
import { kubeletRestartPatch, writeNodeTools } from "../unit/core/scripts/stubs";

export interface FakeNodes {
  readonly dir: string;
  /** The lines of a node's tools.log. */
  log(node: string): string[];
  /** How often each step of the upgrade ran on the node (from its tools.log). */
  steps(node: string): StepCounts;
  /** Whether a process of the node's tools is still running (an upgrade cut off from its SSH session). */
  busy(node: string): boolean;
}

export interface StepCounts {
  /** `apt-get install ... kubeadm=<version>` (step 1). */
  readonly kubeadmPackage: number;
  /** `kubeadm upgrade apply|node` started (step 2) ... */
  readonly kubeadmUpgradeStarted: number;
  /** ... and finished. */
  readonly kubeadmUpgradeDone: number;
  /** `apt-get install ... kubelet=<version>` (step 3). */
  readonly kubeletPackage: number;
  /** `systemctl restart kubelet` (step 4). */
  readonly kubeletRestart: number;
}

/**
 * (Re)writes the fake nodes at `version` with empty logs. `slow` nodes take that many seconds in
 * `kubeadm upgrade`, others none.
 */
export function writeFakeNodes(
  dir: string,
  names: readonly string[],
  o: { version: string; kubeconfigPath: string; slow?: Record<string, number> },
): FakeNodes {
  const kubectl = binaries().kubectl;
  for (const node of names) {
    const d = join(dir, node);
    rmSync(d, { recursive: true, force: true });
    const seconds = o.slow?.[node] ?? 0;
    writeNodeTools(join(d, "bin"), join(d, "state"), {
      kubelet: o.version,
      kubeadm: o.version,
      systemctl: kubeletRestartPatch(kubectl, o.kubeconfigPath, node),
      kubeadmBody: `if [ "$1" = upgrade ]; then
  echo "[upgrade] upgrading ($2)"
  ${seconds > 0 ? `sleep ${seconds}` : ":"}
  echo "[upgrade] SUCCESS: the $2 upgrade is done"
  printf '%s\\n' "kubeadm upgrade $2 done" >> "$LOG"
fi`,
    });
    writeFileSync(join(d, "tools.log"), "");
  }
  const log = (node: string) => {
    const f = join(dir, node, "tools.log");
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
  };
  const count = (node: string, re: RegExp) => log(node).filter((l) => re.test(l)).length;
  return {
    dir,
    log,
    steps: (node) => ({
      kubeadmPackage: count(node, /^apt-get install .*\bkubeadm=/),
      kubeadmUpgradeStarted: count(node, /^kubeadm upgrade (apply|node)\b(?!.* done$)/),
      kubeadmUpgradeDone: count(node, /^kubeadm upgrade (apply|node) done$/),
      kubeletPackage: count(node, /^apt-get install .*\bkubelet=/),
      kubeletRestart: count(node, /^systemctl restart kubelet$/),
    }),
    busy: (node) => {
      const bin = `${join(dir, node, "bin")}/`;
      return readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .some((p) => cmdline(Number(p)).includes(bin));
    },
  };
}

/** Each step once: a node upgraded exactly once. */
export const ONCE: StepCounts = {
  kubeadmPackage: 1,
  kubeadmUpgradeStarted: 1,
  kubeadmUpgradeDone: 1,
  kubeletPackage: 1,
  kubeletRestart: 1,
};
