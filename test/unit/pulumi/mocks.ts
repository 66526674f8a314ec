/**
 * Pulumi mocks that also record each register request: the mocks' newResource sees neither the
 * dependencies nor the parent, nor the inputs as serialized (secrets as {sig, value} wrappers).
 */
import * as pulumi from "@pulumi/pulumi";

/** The signature of a serialized secret: `{ [SIG_KEY]: SECRET_SIG, value }`. */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** One registered resource. */
export interface Registered {
  type: string;
  name: string;
  parent: string;
  provider: string;
  /** Names (last URN part) of the resources it depends on. */
  dependencies: string[];
  /** Serialized inputs (secrets as {sig, value} wrappers). */
  raw: Record<string, unknown>;
  /** Inputs as the mocks' newResource got them (filled in when it runs). */
  inputs: Record<string, unknown>;
}

interface RegisterRequest {
  getName(): string;
  getType(): string;
  getParent(): string;
  getProvider(): string;
  getDependenciesList(): string[];
  getObject(): { toJavaScript(): Record<string, unknown> };
}

/**
 * Installs the mocks (preview; id `<name>-id`; state = inputs plus `extraState(args)`) and
 * records every registered resource into `registered`, by name.
 */
export function mockAndRecord(
  registered: Map<string, Registered>,
  extraState: (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown> = () => ({}),
): void {
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const r = registered.get(args.name);
        if (r) r.inputs = args.inputs as Record<string, unknown>;
        return { id: `${args.name}-id`, state: { ...args.inputs, ...extraState(args) } };
      },
      call: (args: pulumi.runtime.MockCallArgs) => args.inputs,
    },
    "project",
    "stack",
    true, // preview
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource: (req: RegisterRequest, cb: unknown) => void;
  };
  const orig = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    registered.set(req.getName(), {
      type: req.getType(),
      name: req.getName(),
      parent: req.getParent(),
      provider: req.getProvider(),
      dependencies: req.getDependenciesList().map((u) => u.split("::").pop()!),
      raw: req.getObject().toJavaScript(),
      inputs: {},
    });
    orig(req, cb);
  };
}

/** The value of an Output (unknowns never resolve: use only with known values). */
export function value<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}
