/**
 * VeleroSchedule against the real apiserver with Velero's own Schedule CRD (v1.18.3, vendored in
 * test/integration/fixtures): the synthesized Schedule, every field set, is server-side applied
 * with fieldValidation=Strict (kubectl --validate=strict), so a field Velero does not have (a misspelling in the construct)
 * fails; a deliberately wrong field shows that the check is real.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { VeleroSchedule } from "kube-upkeep/cdk8s";
import { binaries } from "../../cluster/cluster";
import { uniqueName } from "../../cluster/fixtures";
import { FULL } from "../fixtures/velero-schedule-full";
import { synthYaml } from "../support/cronjob";
import { run, runOk } from "../support/tools";

jest.setTimeout(180_000);

const kubectl = binaries().kubectl;
const CRD = resolve(__dirname, "..", "fixtures", "velero-v1.18.3-schedules-crd.yaml");
const ns = uniqueName("ku-velero");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ku-velero-"));
  runOk([kubectl, "apply", "--server-side", "-f", CRD]);
  runOk([
    kubectl,
    "wait",
    "--for=condition=Established",
    "crd/schedules.velero.io",
    "--timeout=60s",
  ]);
  runOk([kubectl, "create", "namespace", ns]);
});
afterAll(() => {
  run([kubectl, "delete", "namespace", ns, "--wait=false"]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const apply = (yaml: string) => {
  const f = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, yaml);
  return run([kubectl, "apply", "--server-side", "--validate=strict", "-f", f]);
};

test("every field of the synthesized Schedule is one Velero's CRD has", () => {
  const yaml = synthYaml(
    (chart) => new VeleroSchedule(chart, "nightly", { ...FULL, namespace: ns }),
  );
  const r = apply(yaml);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const got = JSON.parse(runOk([kubectl, "-n", ns, "get", "schedule", "nightly", "-o", "json"]));
  const { parseAllDocuments } = jest.requireActual("yaml") as typeof import("yaml");
  const synthesized = parseAllDocuments(yaml)[0].toJS();
  // nothing pruned or defaulted away: the stored spec is the synthesized one
  expect(got.spec).toEqual(synthesized.spec);
});

test("a field Velero does not have is rejected by the apiserver (the check is real)", () => {
  const yaml = synthYaml(
    (chart) => new VeleroSchedule(chart, "typo", { schedule: "0 1 * * *", namespace: ns }),
  ).replace("template: {}", "template:\n    includedNamespace:\n      - production");
  expect(yaml).toContain("includedNamespace:");
  const r = apply(yaml);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/\.spec\.template\.includedNamespace: field not declared in schema/);
});
