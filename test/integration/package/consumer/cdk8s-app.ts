/**
 * A user's cdk8s program against the installed package (test/integration/package/consumer.test.ts
 * type-checks it with tsc strict and runs it): argv[2] is the output directory.
 */
import { App, Chart } from "cdk8s";
import { ValidationError } from "kube-upkeep";
import { EtcdBackup, PodDisruptionBudget, type EtcdBackupProps } from "kube-upkeep/cdk8s";

const app = new App({ outdir: process.argv[2] });
const chart = new Chart(app, "maintenance");
new PodDisruptionBudget(chart, "web", {
  metadata: { name: "web" },
  selector: { matchLabels: { app: "web" } },
  maxUnavailable: 1,
});
const backup: EtcdBackupProps = { nodes: ["cp-1"], retention: { days: 7, count: 14 } };
new EtcdBackup(chart, "etcd-backup", backup);

// @ts-expect-error -- the props are typed: retention.count is a number (fails if types are any)
const wrong: EtcdBackupProps = { retention: { count: "14" } };
void wrong;

// invalid props throw the package's ValidationError, the class the root exports
let refused = "";
try {
  new PodDisruptionBudget(new Chart(new App(), "other"), "bad", {
    selector: { matchLabels: { app: "web" } },
    minAvailable: 1,
    maxUnavailable: 1,
  });
} catch (e) {
  if (e instanceof ValidationError) refused = e.field;
  else throw e;
}
if (refused === "")
  throw new Error("PodDisruptionBudget accepted minAvailable with maxUnavailable");

app.synth();
process.stdout.write(`refused:${refused}\n`);
