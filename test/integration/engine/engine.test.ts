/**
 * The real Pulumi engine (CLI, Node.js language host, dynamic-provider shim, command provider),
 * built from Go modules by test/cluster/build-pulumi.sh and cached, runs `pulumi up` and
 * `pulumi destroy` of tiny TypeScript programs through the Automation API, offline: local file
 * backend, passphrase secrets, no update check, no plugin download.
 */
import { readFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { binaries } from "../../cluster/cluster";
import { pulumiEngine, readTree, stackFor, writeProgram } from "./pulumi-engine";

jest.setTimeout(300_000);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const DYNAMIC_PROGRAM = `
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";

interface GreetingInputs { name: string; log: string }

// A dynamic provider is serialized with its closure: it requires what it needs and captures
// only plain values.
const greetingProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: GreetingInputs) {
    require("fs").appendFileSync(inputs.log, "create " + inputs.name + "\\n");
    return { id: "greeting-" + inputs.name, outs: { ...inputs, greeting: "hello " + inputs.name } };
  },
  async delete(id: string, props: GreetingInputs) {
    require("fs").appendFileSync(props.log, "delete " + id + "\\n");
  },
};

class Greeting extends pulumi.dynamic.Resource {
  declare public readonly greeting: pulumi.Output<string>;
  constructor(name: string, args: { name: pulumi.Input<string>; log: pulumi.Input<string> }) {
    super(greetingProvider, name, { greeting: undefined, ...args }, {});
  }
}

const config = new pulumi.Config();
const log = config.require("log");
fs.appendFileSync(log, "program run\\n");
const greeting = new Greeting("greeting", { name: config.require("who"), log });

export const message = greeting.greeting;
export const token = config.requireSecret("token");
`;

describe("the cached Pulumi engine", () => {
  it("pulumi up / preview / destroy a dynamic resource with passphrase secrets on a file backend", async () => {
    const engine = pulumiEngine();
    const pulumiCommand = await PulumiCommand.get({ root: engine.root });
    // the Automation API's minimum-version check passed, and the CLI reports its stamped version
    expect(pulumiCommand.version?.version).toBe(engine.version);

    const backend = engine.envVars.PULUMI_BACKEND_URL.replace(/^file:\/\//, "");
    const workDir = writeProgram("ku-engine-dynamic", { "index.ts": DYNAMIC_PROGRAM });
    dirs.push(workDir, backend);
    const logFile = join(workDir, "provider.log");
    const stack = await stackFor(engine, workDir, "dev");
    const secret = "s3cr3t-token-value-for-the-test";
    await stack.setAllConfig({
      who: { value: "kube-upkeep" },
      log: { value: logFile },
      token: { value: secret, secret: true },
    });

    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.summary.resourceChanges).toEqual({ create: 2 }); // stack + greeting
    expect(up.outputs.message).toEqual({ value: "hello kube-upkeep", secret: false });
    expect(up.outputs.token).toEqual({ value: secret, secret: true });
    // secrets are encrypted with the passphrase in config and state
    const state = readTree(backend);
    expect(state).toContain("hello kube-upkeep");
    expect(state).not.toContain(secret);
    expect(readFileSync(join(workDir, "Pulumi.dev.yaml"), "utf8")).not.toContain(secret);

    const again = await stack.preview();
    expect(again.changeSummary).toEqual({ same: 2 });

    const down = await stack.destroy();
    expect(down.summary.result).toBe("succeeded");
    expect(down.summary.resourceChanges).toEqual({ delete: 2 });
    const log = readFileSync(logFile, "utf8").trim().split("\n");
    expect(log.filter((l) => !l.startsWith("program run"))).toEqual([
      "create kube-upkeep",
      "delete greeting-kube-upkeep",
    ]);
    await stack.workspace.removeStack("dev");
  });
  it("creates and deletes a ConfigMap on the test cluster through the ambient pulumi-resource-kubernetes", async () => {
    const engine = pulumiEngine([
      "pulumi",
      "pulumi-language-nodejs",
      "pulumi-resource-pulumi-nodejs",
      "pulumi-resource-kubernetes",
    ]);
    const kubeconfig = process.env.KUBECONFIG;
    if (!kubeconfig)
      throw new Error("no KUBECONFIG: the integration project's globalSetup exports it");
    const kubectlBin = binaries().kubectl;
    const kubectl = (...args: string[]) =>
      execFileSync(kubectlBin, ["--kubeconfig", kubeconfig, ...args], { encoding: "utf8" });
    const backend = engine.envVars.PULUMI_BACKEND_URL.replace(/^file:\/\//, "");
    const name = `ku-engine-${process.pid}`;
    const workDir = writeProgram(
      "ku-engine-kubernetes",
      {
        "index.ts": `
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

const config = new pulumi.Config();
const provider = new k8s.Provider("cluster", {
  kubeconfig: fs.readFileSync(config.require("kubeconfig"), "utf8"),
});
const cm = new k8s.core.v1.ConfigMap(
  "cm",
  { metadata: { name: config.require("name"), namespace: "default" }, data: { hello: "kube-upkeep" } },
  { provider },
);
export const uid = cm.metadata.uid;
`,
      },
      ["@pulumi/kubernetes"],
    );
    dirs.push(workDir, backend);
    const stack = await stackFor(engine, workDir, "dev");
    await stack.setAllConfig({ kubeconfig: { value: kubeconfig }, name: { value: name } });

    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    const live = JSON.parse(kubectl("get", "configmap", name, "-n", "default", "-o", "json")) as {
      metadata: { uid: string; labels?: Record<string, string> };
      data: Record<string, string>;
    };
    expect(live.data).toEqual({ hello: "kube-upkeep" });
    expect(up.outputs.uid.value).toBe(live.metadata.uid);

    const down = await stack.destroy();
    expect(down.summary.result).toBe("succeeded");
    expect(kubectl("get", "configmap", "-n", "default", "-o", "name")).not.toContain(
      `configmap/${name}`,
    );
    await stack.workspace.removeStack("dev");
  });
});
