/**
 * A user's Pulumi program against the installed package (test/integration/package/consumer.test.ts
 * type-checks it with tsc strict and runs it under pulumi.runtime.setMocks): prints the plan and,
 * when the graph is complete, the registered resources as lines `consumer: <JSON>` (the Pulumi
 * runtime logs to stdout too).
 */
import * as pulumi from "@pulumi/pulumi";
import { renderNodeUpgradeScript } from "kube-upkeep/core";
import { ClusterUpgrade, type ClusterNode } from "kube-upkeep/pulumi";

const registered: { type: string; name: string }[] = [];
pulumi.runtime.setMocks(
  {
    newResource(args) {
      registered.push({ type: args.type, name: args.name });
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type.endsWith(":NodeReadyWait")) state.kubeletVersion = args.inputs.targetVersion;
      if (args.type === "command:remote:Command") state.stdout = "ok";
      return { id: `${args.name}-id`, state };
    },
    call: (args) => args.inputs,
  },
  "consumer",
  "dev",
  true,
);

const connection = { host: "10.0.0.11", privateKey: "PRIVATE-KEY", hostKey: "ssh-ed25519 AAAA" };
const nodes: ClusterNode[] = [
  { name: "cp-1", role: "control-plane", connection },
  { name: "w-1", role: "worker", connection: { ...connection, host: "10.0.0.21" } },
];
const upgrade = new ClusterUpgrade("upgrade", {
  nodes,
  kubeconfig: "apiVersion: v1\nkind: Config\n",
  currentVersion: "v1.34.2",
  targetVersion: "v1.35.4",
});

// @ts-expect-error -- the args are typed: a node needs a role (fails if types are any)
const wrong: ClusterNode = { name: "w-2", connection };
void wrong;

const script: string = renderNodeUpgradeScript({ targetVersion: "v1.35.4", mode: "node" });
upgrade.planText.apply((text) =>
  process.stdout.write(`consumer: ${JSON.stringify({ plan: text })}\n`),
);
process.on("beforeExit", () => {
  if (!script.startsWith("#!")) throw new Error("renderNodeUpgradeScript rendered no script");
  for (const r of registered.splice(0)) process.stdout.write(`consumer: ${JSON.stringify(r)}\n`);
});
