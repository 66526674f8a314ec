/**
 * The loopback sshd the e2e tests and the demo run remote.Command against
 * (test/cluster/sshd.ts): key login works with the host key verified, a wrong host key and a
 * wrong client key are refused, stop() ends the server and removes its files.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startSshd, type SshServer } from "../cluster/sshd";

jest.setTimeout(120_000);
const run = promisify(execFile);

let server: SshServer;
let dir: string;

beforeAll(async () => {
  server = await startSshd(); // throws with the apt-get command when sshd is missing
  dir = mkdtempSync(join(tmpdir(), "ku-ssh-client-"));
});

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function ssh(knownHosts: string, key: string, command: string) {
  const kh = join(dir, `known_hosts-${Math.random().toString(36).slice(2)}`);
  writeFileSync(kh, knownHosts);
  return run("ssh", [
    "-p",
    String(server.port),
    "-i",
    key,
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${kh}`,
    `${server.user}@${server.host}`,
    command,
  ]);
}

test("binds 127.0.0.1 on a non-22 port; key login with the host key verified runs commands", async () => {
  expect(server.host).toBe("127.0.0.1");
  expect(server.port).not.toBe(22);
  expect(server.hostKeyLine).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
  expect(server.privateKey).toContain("BEGIN OPENSSH PRIVATE KEY");
  const { stdout } = await ssh(
    `${server.knownHostsLine}\n`,
    server.privateKeyPath,
    "echo ok $(id -u)",
  );
  expect(stdout.trim()).toBe(`ok ${process.getuid?.()}`);
});

test("a client expecting another host key refuses to connect", async () => {
  const other = join(dir, "other");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
  const { readFileSync } = await import("node:fs");
  const wrong = readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  await expect(
    ssh(`[${server.host}]:${server.port} ${wrong}\n`, server.privateKeyPath, "true"),
  ).rejects.toMatchObject({
    stderr: expect.stringMatching(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/),
  });
});

test("an unknown client key is refused (key-only login, no passwords)", async () => {
  const stranger = join(dir, "stranger");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger]);
  await expect(ssh(`${server.knownHostsLine}\n`, stranger, "true")).rejects.toMatchObject({
    stderr: expect.stringContaining("Permission denied (publickey)"),
  });
});

test("stop() ends sshd and removes its keys", async () => {
  const second = await startSshd();
  expect(existsSync(second.dir)).toBe(true);
  await second.stop();
  expect(existsSync(second.dir)).toBe(false);
  expect(() => process.kill(second.pid, 0)).toThrow();
});
