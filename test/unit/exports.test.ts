/**
 * The public surface is the explicit lists in the index files (no `export *`); the root is
 * kube-upkeep/cdk8s plus kube-upkeep/core without core's @internal provider-runtime names.
 * scripts/api-size.ts measures the lists and the types they leave unnamed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as root from "kube-upkeep";
import * as cdk8s from "kube-upkeep/cdk8s";
import * as core from "kube-upkeep/core";

const lib = path.join(__dirname, "../../lib");

function indexFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return indexFiles(p);
    return e.name === "index.ts" ? [p] : [];
  });
}

/** The names core exports after its `@internal` marks (kube-upkeep's providers' run-time use). */
function coreInternalNames(): string[] {
  const src = fs.readFileSync(path.join(lib, "core/index.ts"), "utf8");
  const names: string[] = [];
  for (const m of src.matchAll(/\/\*\* @internal \*\/\s*export \{([^}]*)\}/g)) {
    names.push(
      ...m[1]
        .split(",")
        .map((n) => n.trim())
        .filter(Boolean),
    );
  }
  return names;
}

const keys = (m: object) =>
  Object.keys(m)
    .filter((k) => k !== "__esModule")
    .sort();

describe("exports", () => {
  test("every index.ts names what it exports", () => {
    for (const file of indexFiles(lib)) {
      // lib/core/health/index.ts is re-exported by name from its files; it keeps its own list
      if (file.endsWith(path.join("core", "health", "index.ts"))) continue;
      expect([path.relative(lib, file), /export \*/.test(fs.readFileSync(file, "utf8"))]).toEqual([
        path.relative(lib, file),
        false,
      ]);
    }
  });

  test("the root is kube-upkeep/cdk8s plus kube-upkeep/core without core's @internal names", () => {
    const internal = coreInternalNames();
    expect(internal.length).toBeGreaterThan(0);
    for (const n of internal) expect(keys(core)).toContain(n);
    const expected = [
      ...new Set([...keys(cdk8s), ...keys(core).filter((k) => !internal.includes(k))]),
    ];
    expect(keys(root)).toEqual(expected.sort());
  });
});
