/**
 * What `npm run synth` / `cdk8s synth` synthesizes into dist/: every kube-upkeep construct.
 *
 * - dist/maintenance.k8s.yaml: an HA kubeadm cluster with three control-plane nodes
 *   (cp-1..cp-3): the field guide's PodDisruptionBudgets checked by DrainSafety, one etcd
 *   backup CronJob per member, certificate renewal on each node, staggered, and a resource-level
 *   backup (ResourceBackup) of deployments, services, configmaps and RBAC.
 * - dist/single-control-plane.k8s.yaml: a single control-plane cluster: one etcd backup
 *   CronJob on whichever node carries the control-plane role, keeping 14 snapshots at most
 *   7 days old, and renewal on that node.
 */
import { App, Chart } from "cdk8s";
import { CertificateRenewal, EtcdBackup, ResourceBackup } from "../../lib/cdk8s";
import { addPdbExamples } from "./pdb-examples";

const CONTROL_PLANE = ["cp-1", "cp-2", "cp-3"];

const app = new App();

const chart = new Chart(app, "maintenance");
addPdbExamples(chart);
// Each etcd member snapshots itself at 02:00 into /var/backups/etcd on its own disk.
new EtcdBackup(chart, "etcd-backup", { nodes: CONTROL_PLANE });
// 03:00 on cp-1, 03:20 on cp-2, 03:40 on cp-3: renew what expires within 30 days.
new CertificateRenewal(chart, "certificate-renewal", { nodes: CONTROL_PLANE });
// 02:30: the field guide's resource-level backups (deployments, services, configmaps; RBAC),
// restorable with kubectl apply --server-side -f <snapshot>/<namespace>/
new ResourceBackup(chart, "resource-backup", {
  presets: ["app", "rbac"],
  retention: { count: 14 },
});

const single = new Chart(app, "single-control-plane");
new EtcdBackup(single, "etcd-backup", { retention: { days: 7, count: 14 } });
new CertificateRenewal(single, "certificate-renewal", {
  nodes: ["control-plane"],
  renewBeforeDays: 45,
});

app.synth();
