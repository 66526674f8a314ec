/**
 * The live plan's component rows, as `kubeadm upgrade plan` prints them: the control plane's
 * static pods per node and kube-proxy at the target version (kubeadm moves them there), CoreDNS
 * and etcd at the versions the target's kubeadm brings (kube-upkeep does not guess those: the
 * row says whose they are). Pure.
 */
import type { PlanComponent } from "../plan";
import type { LiveComponent } from "./state";

const TITLE: Record<LiveComponent["component"], string> = {
  "kube-apiserver": "kube-apiserver",
  "kube-controller-manager": "kube-controller-manager",
  "kube-scheduler": "kube-scheduler",
  "kube-proxy": "kube-proxy",
  coredns: "CoreDNS",
  etcd: "etcd",
};

export function planComponents(
  components: readonly LiveComponent[],
  targetVersion: string,
): PlanComponent[] {
  return components.map((c) => ({
    component: TITLE[c.component],
    where: c.node ?? `${c.pods ?? 0} pod(s)`,
    current: c.version,
    target:
      c.component === "coredns" || c.component === "etcd"
        ? `kubeadm ${targetVersion}'s`
        : targetVersion,
  }));
}
