/**
 * The stand-in pulumi-resource-command (test/e2e/command-provider/provider.js) against the real
 * loopback sshd, method by method, for the semantics of the real provider that kube-upkeep
 * depends on (pulumi-command provider/pkg/provider/remote/commandController.go):
 *  - an update runs `update` when set, otherwise `create` AGAIN;
 *  - a `triggers` change is a replacement, any other change (the connection too) an update;
 *  - delete runs `delete` only when set;
 *  - a connection lost while the command runs fails with x/crypto/ssh's ExitMissingError text.
 * And NodeUpgrade's command under them: a changed setting on an upgraded node runs only the check.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../cluster/fixtures";
import { startSshd, type SshServer } from "../cluster/sshd";
import { ClusterUpgrade } from "../../lib/pulumi/cluster-upgrade";
import { updateCheckCommand } from "../../lib/pulumi/node-upgrade";
import { mockAndRecord, type Registered } from "../unit/pulumi/mocks";
import { killSshd, restartSshd } from "./sshd-faults";

jest.setTimeout(120_000);

interface Impl {
  diff(
    id: string,
    urn: string,
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
  ): Promise<{ changes: boolean; replaces: string[] }>;
  create(
    urn: string,
    inputs: Record<string, unknown>,
  ): Promise<{ id: string; outs: Record<string, unknown> }>;
  update(
    id: string,
    urn: string,
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
  ): Promise<{ outs: Record<string, unknown> }>;
  delete(id: string, urn: string, props: Record<string, unknown>): Promise<void>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { impl } = require("./command-provider/provider.js") as { impl: Impl };

const URN = "urn:pulumi:s::p::kube-upkeep:index:NodeUpgrade$command:remote:Command::up-w-1-upgrade";

let sshd: SshServer;
let dir: string;
let log: string;
let connection: Record<string, unknown>;

beforeAll(async () => {
  sshd = await startSshd(); // throws with the apt-get command when sshd is missing
  dir = mkdtempSync(join(tmpdir(), "ku-standin-"));
  log = join(dir, "runs.log");
  connection = {
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: sshd.privateKey,
    hostKey: sshd.hostKeyLine,
  };
});

afterAll(async () => {
  await sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const runs = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);

beforeEach(() => rmSync(log, { force: true }));

test("update without `update` runs `create` again; with `update`, only that; with neither, nothing", async () => {
  const inputs = { connection, create: `echo create >> ${log}; echo created`, triggers: ["a"] };
  const { id, outs } = await impl.create(URN, inputs);
  expect(id).toMatch(/^up-w-1-upgrade[0-9a-f]{8}$/);
  expect(outs.stdout).toBe("created");
  expect(runs()).toEqual(["create"]);

  // a changed connection is an update, not a replacement
  const moved = { ...inputs, connection: { ...connection, perDialTimeout: 16 } };
  expect(await impl.diff(id, URN, outs, moved)).toEqual({ changes: true, replaces: [] });
  const u1 = await impl.update(id, URN, outs, moved);
  expect(runs()).toEqual(["create", "create"]); // the real provider's Update: create again
  expect(u1.outs.stdout).toBe("created");

  const withUpdate = { ...moved, update: `echo update >> ${log}; echo checked` };
  const u2 = await impl.update(id, URN, u1.outs, withUpdate);
  expect(runs()).toEqual(["create", "create", "update"]);
  expect(u2.outs.stdout).toBe("checked");

  const none = { connection, triggers: ["a"] };
  const u3 = await impl.update(id, URN, u2.outs, none);
  expect(u3.outs.stdout).toBe("checked"); // nothing ran: the previous output stays
  expect(runs()).toHaveLength(3);

  // a trigger change replaces; the same inputs are no change
  expect(await impl.diff(id, URN, outs, { ...inputs, triggers: ["b"] })).toEqual({
    changes: true,
    replaces: ["triggers"],
  });
  expect(await impl.diff(id, URN, outs, inputs)).toEqual({ changes: false, replaces: [] });
});

test("delete runs `delete` only when set, with the old state's stdin", async () => {
  await impl.delete("x", URN, { connection, create: `echo create >> ${log}` });
  expect(runs()).toEqual([]);
  await impl.delete("x", URN, { connection, delete: `cat >> ${log}`, stdin: "deleted\n" });
  expect(runs()).toEqual(["deleted"]);
});

test("NodeUpgrade's command: a changed setting on an upgraded node runs the check, never the upgrade", async () => {
  const bin = join(dir, "bin");
  const kubelet = (v: string) => {
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    writeFileSync(join(bin, "kubelet"), `#!/bin/sh\necho "Kubernetes ${v}"\n`, { mode: 0o755 });
  };
  const upgradeScript = (tag: string) => `echo upgrade-${tag} >> ${log}\n`;
  const inputs = {
    connection,
    create: "sh -s",
    update: updateCheckCommand("w-1", "v1.35.4", true),
    stdin: upgradeScript("1"),
    // the stand-in exports environment (the real provider: SSH setenv)
    environment: { PATH: `${bin}:/usr/bin:/bin` },
    triggers: ["v1.35.4", "node"],
  };
  kubelet("v1.34.2");
  const { id, outs } = await impl.create(URN, inputs); // right after the drain
  expect(runs()).toEqual(["upgrade-1"]);
  kubelet("v1.35.4"); // the upgrade took effect; the node is back in service

  // the script changed (e.g. script.packageManager) and the connection: an update
  const changed = {
    ...inputs,
    stdin: upgradeScript("2"),
    connection: { ...connection, dialErrorLimit: 3 },
  };
  expect((await impl.diff(id, URN, outs, changed)).replaces).toEqual([]);
  const u = await impl.update(id, URN, outs, changed);
  expect(runs()).toEqual(["upgrade-1"]);
  expect(u.outs.stdout).toMatch(/^kube-upkeep: node w-1: kubelet at v1\.35\.4; .*nothing to do/);

  // the connection now reaches a host that is not at the target: fails, upgrades nothing
  kubelet("v1.34.2");
  await expect(impl.update(id, URN, u.outs, changed)).rejects.toThrow(
    /node w-1: the upgrade settings .* reports kubelet v1\.34\.2 instead of v1\.35\.4\. Not upgrading a node that was not drained for it/,
  );
  expect(runs()).toEqual(["upgrade-1"]);
});

test("ClusterUpgrade's real inputs: a changed script setting on a node is an update, and the update runs only the check", async () => {
  // the inputs ClusterUpgrade registers (mocks) for two programs that differ in one script
  // setting, fed to the stand-in as the engine would: state of the first, inputs of the second
  const registered = new Map<string, Registered>();
  mockAndRecord(registered);
  const node = (name: string, role: "control-plane" | "worker") => ({
    name,
    role,
    connection: {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKey: sshd.hostKeyLine,
    },
  });
  const program = (name: string, packageManager: "apt" | "dnf") =>
    new ClusterUpgrade(name, {
      nodes: [node("cp-1", "control-plane"), node("w-1", "worker")],
      currentVersion: "v1.34.2",
      targetVersion: "v1.35.4",
      kubeconfig: "apiVersion: v1\nkind: Config\n",
      etcdSnapshot: false,
      script: { packageManager },
    });
  const [a, b] = [program("a", "apt"), program("b", "dnf")];
  await Promise.all(
    [a, b].map(async (c) => {
      await c.ready; // nodeUpgrades is filled in once the plan is made
      await new Promise((r) => c.nodeUpgrades["w-1"]!.upgrade.urn.apply(r));
    }),
  );
  await new Promise((r) => setTimeout(r, 200));
  const olds = { ...registered.get("a-w-1-upgrade")!.raw, stdout: "upgraded", stderr: "" };
  const news = registered.get("b-w-1-upgrade")!.raw;
  expect(String(news.stdin)).toContain("dnf install -y");
  expect(await impl.diff("id", URN, olds, news)).toEqual({ changes: true, replaces: [] });
  // this host has no kubelet: the check fails, naming the node; the (dnf) script never ran
  let message = "";
  await impl.update("id", URN, olds, news).catch((e: Error) => (message = e.message));
  expect(message).toMatch(
    /kube-upkeep: node w-1: the upgrade settings .* reports kubelet \(none\) instead of v1\.35\.4\. Not upgrading/,
  );
  expect(message).not.toContain("upgrading to");
  expect(message).not.toContain("dnf");
});

// last: it kills the shared sshd (and starts it again for afterAll)
test("a connection lost during the command fails as the real provider's does: the session ended without an exit status", async () => {
  const command = `echo started; echo started >> ${log}; sleep 3; echo after-sleep; echo finished >> ${log}`;
  const created = impl.create(URN, { connection, create: command });
  await waitFor(() => runs().includes("started"), { what: "the command to start" });
  await killSshd({ pid: sshd.pid });
  const restarted = await restartSshd(sshd);
  try {
    // x/crypto/ssh Session.Wait: ExitMissingError; commandOutputs.go run(): "%w: running %q:\n%s"
    await expect(created).rejects.toThrow(
      `wait: remote command exited without exit status or exit signal: running ${JSON.stringify(command)}:\nstarted`,
    );
    await created.catch((e: Error) => expect(e.message).not.toMatch(/Connection to .* closed/));
    // the command died at its next write to the lost session
    await new Promise((r) => setTimeout(r, 3500));
    expect(runs()).toEqual(["started"]);
    // a remote exit status of 255 is still a plain exit error
    await expect(impl.create(URN, { connection, create: "exit 255" })).rejects.toThrow(
      /^Process exited with status 255/,
    );
  } finally {
    await restarted.stop();
  }
});
