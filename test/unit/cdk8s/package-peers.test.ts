/**
 * What the package asks of its users agrees with the README: the Node.js minimum is the
 * `engines` field, the root, `kube-upkeep/core` and `kube-upkeep/cdk8s` import no @pulumi
 * package, and `kube-upkeep/pulumi` imports exactly the @pulumi peers the README's install
 * command names (the peers are optional in package.json only for the cdk8s-only users).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(__dirname, "..", "..", "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
  peerDependencies: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
/** The README with every run of whitespace as one space (line wrapping does not matter). */
const prose = readme.replace(/\s+/g, " ");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [join(dir, e.name)]
        : [],
  );
}

/** The @pulumi packages a file imports or requires (comments ignored). */
function pulumiImports(file: string): string[] {
  const code = readFileSync(file, "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  const found = new Set<string>();
  for (const m of code.matchAll(/(?:from\s+|require\(\s*|import\(\s*)["'](@pulumi\/[a-z-]+)/g))
    found.add(m[1]);
  return [...found];
}

describe("package metadata and the README agree", () => {
  test("the README's Node.js minimum is engines.node", () => {
    const min = /^>=\s*(\d+)$/.exec(pkg.engines.node)?.[1];
    expect(min).toBe("22");
    const stated = [...readme.matchAll(/Node\.js >= (\d+)/g)].map((m) => m[1]);
    expect(stated.length).toBeGreaterThan(0);
    expect(new Set(stated)).toEqual(new Set([min]));
  });

  test("only lib/pulumi imports @pulumi packages; it imports exactly the peers", () => {
    const byFile = Object.fromEntries(
      tsFiles(join(ROOT, "lib")).map((f) => [relative(ROOT, f), pulumiImports(f)]),
    );
    const outside = Object.entries(byFile).filter(
      ([f, imports]) => !f.startsWith("lib/pulumi/") && imports.length > 0,
    );
    expect(outside).toEqual([]);
    const used = new Set(
      Object.entries(byFile)
        .filter(([f]) => f.startsWith("lib/pulumi/"))
        .flatMap(([, imports]) => imports),
    );
    expect(used).toEqual(new Set(Object.keys(pkg.peerDependencies)));
  });

  test("the README's install command for kube-upkeep/pulumi names every peer (each an optional peer in package.json)", () => {
    const cmd = /^npm install kube-upkeep( @pulumi\/\S+)+$/m.exec(readme)?.[0];
    expect(cmd).toBeDefined();
    const named = new Set(cmd?.split(" ").filter((w) => w.startsWith("@pulumi/")));
    expect(named).toEqual(new Set(Object.keys(pkg.peerDependencies)));
    for (const peer of Object.keys(pkg.peerDependencies))
      expect(pkg.peerDependenciesMeta?.[peer]?.optional).toBe(true);
    expect(prose).toContain(
      "The root, `kube-upkeep/core` and `kube-upkeep/cdk8s` need no Pulumi package. `kube-upkeep/pulumi` needs all three Pulumi peers",
    );
  });
});
