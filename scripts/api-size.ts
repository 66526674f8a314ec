/**
 * How wide the package is: exported symbols per package.json subpath, and the longest
 * functions under lib/. Reproducible measure for issue 15: `npx tsx scripts/api-size.ts`
 * (`--json` for machine-readable output, `--top N` for more functions).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

const root = path.resolve(__dirname, "..");
const args = process.argv.slice(2);
const top = Number(args[args.indexOf("--top") + 1]) || 12;

/** package.json `exports` subpath -> the lib/ source file its types come from. */
function subpaths(): Map<string, string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries<Record<string, string> | string>(pkg.exports)) {
    const types = typeof value === "string" ? value : value.types;
    if (!types?.endsWith(".d.ts")) continue;
    const src = types.replace(/^\.\/dist-lib\//, "lib/").replace(/\.d\.ts$/, ".ts");
    out.set(key === "." ? "kube-upkeep" : `kube-upkeep/${key.slice(2)}`, path.join(root, src));
  }
  return out;
}

const entries = subpaths();
const libFiles = ts.sys.readDirectory(path.join(root, "lib"), [".ts"], undefined, ["**/*.ts"]);
const program = ts.createProgram(libFiles, {
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  skipLibCheck: true,
  noEmit: true,
});
const checker = program.getTypeChecker();

const resolved = (s: ts.Symbol): ts.Symbol =>
  s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
const inLib = (d: ts.Node): boolean =>
  d.getSourceFile().fileName.startsWith(path.join(root, "lib") + path.sep);

/**
 * Named lib/ types that an exported declaration mentions (props, args, parameters, results)
 * but no subpath exports: a user cannot write them down.
 */
function unexportedTypes(exported: ts.Symbol[], have: Set<ts.Symbol>): string[] {
  const seen = new Set<ts.Symbol>();
  const missing = new Set<string>();
  const walk = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      // the signature only: parameters and the return type
      for (const p of node.parameters) if (p.type) walk(p.type);
      if (node.type) walk(node.type);
      return;
    }
    if (
      ts.isPropertyDeclaration(node) &&
      node.modifiers?.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)
    )
      return;
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
      const target = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
      const s = checker.getSymbolAtLocation(target);
      if (s) visitSymbol(resolved(s));
    }
    ts.forEachChild(node, walk);
  };
  const visitSymbol = (s: ts.Symbol): void => {
    if (seen.has(s)) return;
    seen.add(s);
    const decls = (s.declarations ?? []).filter(inLib);
    if (decls.length === 0) return;
    if (s.flags & ts.SymbolFlags.TypeParameter) return;
    if (!have.has(s) && s.flags & (ts.SymbolFlags.Type | ts.SymbolFlags.Class)) {
      missing.add(`${s.getName()} (${path.relative(root, decls[0].getSourceFile().fileName)})`);
    }
    for (const d of decls) {
      if (ts.isVariableDeclaration(d)) continue; // a constant's value is not its API
      walk(d);
    }
  };
  for (const s of exported) if (!isInternal(s)) visitSymbol(resolved(s));
  return [...missing].sort();
}

/** An export the index marks `@internal` (kube-upkeep's own run-time use, not API). */
function isInternal(s: ts.Symbol): boolean {
  const spec = s.declarations?.find(ts.isExportSpecifier);
  return !!spec && ts.getJSDocTags(spec.parent.parent).some((t) => t.tagName.text === "internal");
}

const exportsOf = new Map<string, ts.Symbol[]>();
for (const [name, file] of entries) {
  const sf = program.getSourceFile(file);
  const sym = sf && checker.getSymbolAtLocation(sf);
  if (!sym) throw new Error(`api-size: no module symbol for ${name} (${file})`);
  exportsOf.set(name, checker.getExportsOfModule(sym));
}
const everywhere = new Set([...exportsOf.values()].flat().map(resolved));
const exportsPer: Record<string, number> = {};
const internalPer: Record<string, number> = {};
const missingPer: Record<string, string[]> = {};
const all = new Set<string>();
for (const [name, exported] of exportsOf) {
  exportsPer[name] = exported.length;
  internalPer[name] = exported.filter(isInternal).length;
  missingPer[name] = unexportedTypes(exported, everywhere);
  for (const s of exported) all.add(s.getName());
}

interface Fn {
  name: string;
  file: string;
  line: number;
  lines: number;
}
const fns: Fn[] = [];
for (const sf of program.getSourceFiles()) {
  if (!sf.fileName.startsWith(path.join(root, "lib") + path.sep)) continue;
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const decl = node as ts.FunctionLikeDeclaration;
      let name = decl.name?.getText(sf) ?? "";
      if (ts.isConstructorDeclaration(node))
        name = `${(node.parent as ts.ClassDeclaration).name?.getText(sf)}.constructor`;
      else if (!name && ts.isVariableDeclaration(node.parent)) name = node.parent.name.getText(sf);
      else if (!name) name = "(anonymous)";
      fns.push({
        name,
        file: path.relative(root, sf.fileName),
        line: start + 1,
        lines: end - start + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
fns.sort((a, b) => b.lines - a.lines);
const over80 = fns.filter((f) => f.lines > 80).length;

if (args.includes("--json")) {
  console.log(
    JSON.stringify(
      {
        exportsPer,
        internalPer,
        missingPer,
        distinct: all.size,
        over80,
        longest: fns.slice(0, top),
      },
      null,
      2,
    ),
  );
} else {
  console.log("exported symbols per subpath:");
  for (const [name, n] of Object.entries(exportsPer)) {
    const internal = internalPer[name] ? ` (${internalPer[name]} of them @internal)` : "";
    console.log(`  ${name.padEnd(20)} ${n}${internal}`);
  }
  console.log(`  distinct over all     ${all.size}`);
  for (const [name, missing] of Object.entries(missingPer)) {
    if (missing.length)
      console.log(`types ${name} uses in its API that no subpath exports: ${missing.join(", ")}`);
  }
  console.log(`functions over 80 lines: ${over80}; longest:`);
  for (const f of fns.slice(0, top))
    console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.file}:${f.line}`);
}
