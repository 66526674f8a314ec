/**
 * What kube-upkeep's dynamic providers (NodeDrain, NodeReadyWait, NodeUncordon) use at run time,
 * inside the dynamic-provider host: loading kube-upkeep's core (once per process), and logging.
 * The providers take their API clients from core's clientsFromYaml, which keeps them (and their
 * kept-alive connections) per kubeconfig for the life of the process.
 *
 * Serialization: Pulumi serializes each provider object into the state, walking what its methods
 * capture. A provider file must bind these functions to module-level constants
 * (`const loadCore = runtime.loadCore`) and call those: a captured function value is serialized
 * by value (its source), while a captured module object (what `import { loadCore }` compiles
 * to) is serialized as `require("<path of this file inside node_modules>")` when kube-upkeep is
 * installed as a package, a path that the package's `exports` does not allow. The functions
 * therefore capture nothing and `require` what they use inside their bodies.
 */

/**
 * Loads kube-upkeep's core inside the provider process, once per process: the module is kept on
 * globalThis (this function is serialized by value, so it can hold no module-level cache), and
 * every later call of any kube-upkeep provider gets it without resolving it again (a failed
 * `require` with its exception, then a second resolution, on every check and create of the
 * examples' layout). A program that installed kube-upkeep finds it in node_modules. The
 * dynamic-provider host evaluates the provider without a file name, so Node's package
 * self-reference does not apply there; when the program IS the kube-upkeep package (its
 * examples), resolve from the program directory, where self-reference works.
 */
export function loadCore(): typeof import("../core") {
  const cache = globalThis as { [key: symbol]: typeof import("../core") | undefined };
  const key = Symbol.for("kube-upkeep.provider.core");
  const loaded = cache[key];
  if (loaded) return loaded;
  let core: typeof import("../core");
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    core = require("kube-upkeep/core");
  } catch (e) {
    if ((e as { code?: string }).code !== "MODULE_NOT_FOUND") throw e;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createRequire } = require("node:module") as typeof import("node:module");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { join } = require("node:path") as typeof import("node:path");
    core = createRequire(join(process.cwd(), "__kube-upkeep-provider__.js"))("kube-upkeep/core");
  }
  cache[key] = core;
  return core;
}

/**
 * A progress line through pulumi.log (the engine shows it on the resource), or on stderr where
 * @pulumi/pulumi cannot be loaded (a provider called directly by a test or a tool).
 */
export function providerLog(level: "info" | "warn", message: string): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const p: typeof import("@pulumi/pulumi") = require("@pulumi/pulumi");
    p.log[level](message);
  } catch {
    process.stderr.write(`${level}: ${message}\n`);
  }
}
