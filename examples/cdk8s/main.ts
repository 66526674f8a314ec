/**
 * What `npm run synth` / `cdk8s synth` synthesizes into dist/: every kube-upkeep construct in
 * one chart. (Minimal version; the other constructs are added here as they land.)
 */
import { App, Chart } from "cdk8s";
import { addPdbExamples } from "./pdb-examples";

const app = new App();
const chart = new Chart(app, "maintenance");
addPdbExamples(chart);
app.synth();
