/**
 * A real OpenSSH server (Debian's openssh-server, /usr/sbin/sshd) on 127.0.0.1 for the e2e tests
 * and the demo: the per-node upgrade commands of ClusterUpgrade run through @pulumi/command's
 * remote.Command over SSH on loopback, against this server.
 *
 * - runs as a non-daemon child (`sshd -D -e -f <config>`), on a kernel-chosen free port (never 22),
 *   bound to 127.0.0.1 only;
 * - a fresh ed25519 host key and a fresh ed25519 client key in a temp dir (nothing of the machine's
 *   own /etc/ssh is used or touched);
 * - key-only login for the current user (root here: PermitRootLogin prohibit-password), no
 *   passwords, no keyboard-interactive;
 * - `hostKeyLine` is the host key as remote.Command's `connection.hostKey` takes it (the
 *   authorized_keys form "ssh-ed25519 AAAA...", which the provider parses with
 *   ssh.ParseAuthorizedKey), so the client verifies the server.
 *
 * `stop()` kills the server and removes the temp dir.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports";

const run = promisify(execFile);

export const SSHD_BINARY = process.env.KU_SSHD ?? "/usr/sbin/sshd";
export const PRIVSEP_DIR = "/run/sshd";
export const SSH_KEYGEN = process.env.KU_SSH_KEYGEN ?? "/usr/bin/ssh-keygen";
/** How to get sshd, quoted when it is missing. */
export const SSHD_HOWTO =
  "install Debian's OpenSSH server and client: apt-get update && apt-get install -y openssh-server openssh-client " +
  "(CI's .ci/run installs them; the test starts its own sshd on 127.0.0.1, the system service is not used)";

export interface SshServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The client private key (OpenSSH PEM text). Pass it as a Pulumi secret. */
  readonly privateKey: string;
  /** Path of the client private key file (mode 0600), for the ssh CLI. */
  readonly privateKeyPath: string;
  /** "ssh-ed25519 AAAA..." : remote.Command's connection.hostKey. */
  readonly hostKeyLine: string;
  /** known_hosts line for the ssh CLI: "[127.0.0.1]:<port> ssh-ed25519 AAAA...". */
  readonly knownHostsLine: string;
  /** The temp dir holding keys, config, pid file and log. */
  readonly dir: string;
  /** sshd's pid. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Names of missing binaries (sshd, ssh-keygen), empty when all are there. */
export function missingSshBinaries(): string[] {
  return [SSHD_BINARY, SSH_KEYGEN].filter((b) => !existsSync(b));
}

/** Resolves when a TCP connection to host:port succeeds and the server sends its SSH banner. */
async function bannerOk(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.on("error", () => done(false));
    sock.on("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
  });
}

export interface StartSshdOptions {
  /** Extra sshd_config lines. */
  readonly extraConfig?: readonly string[];
  /** @default 15000 */
  readonly timeoutMs?: number;
}

/**
 * Starts sshd on 127.0.0.1:<random port> with generated keys. Throws with the install command
 * when sshd or ssh-keygen is missing, and with sshd's log when it does not come up.
 */
export async function startSshd(opts: StartSshdOptions = {}): Promise<SshServer> {
  const missing = missingSshBinaries();
  if (missing.length > 0) {
    throw new Error(`SSH on loopback: ${missing.join(", ")} not found: ${SSHD_HOWTO}`);
  }
  // sshd refuses to start without its privilege separation directory (the Debian service
  // creates it through systemd's RuntimeDirectory; we do not run the service)
  if (!existsSync(PRIVSEP_DIR)) mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "ku-sshd-"));
  chmodSync(dir, 0o700);
  const hostKey = join(dir, "ssh_host_ed25519_key");
  const clientKey = join(dir, "client_ed25519");
  try {
    for (const [file, comment] of [
      [hostKey, "kube-upkeep-test-host"],
      [clientKey, "kube-upkeep-test-client"],
    ]) {
      await run(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const authorizedKeys = join(dir, "authorized_keys");
  writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`, "utf8"), { mode: 0o600 });
  const user = userInfo().username;
  const host = "127.0.0.1";
  const logFile = join(dir, "sshd.log");

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `ListenAddress ${host}:${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        // keys in a temp dir owned by us; sshd's ownership checks of home dirs do not apply
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        `AllowUsers ${user}`,
        "PrintMotd no",
        "PrintLastLog no",
        // many parallel remote.Command sessions during a wide roll
        "MaxStartups 100:30:200",
        "MaxSessions 50",
        "LogLevel INFO",
        ...(opts.extraConfig ?? []),
        "",
      ].join("\n"),
    );
    const child: ChildProcess = spawn(SSHD_BINARY, ["-D", "-e", "-f", config], {
      stdio: ["ignore", "ignore", "pipe"],
      detached: false,
    });
    let log = "";
    child.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.length > 200_000) log = log.slice(-100_000);
      try {
        writeFileSync(logFile, log);
      } catch {
        // dir removed by stop()
      }
    });
    let exited: number | null | undefined;
    child.on("exit", (code) => (exited = code));
    child.on("error", (e) => {
      log += `spawn error: ${e.message}\n`;
      exited = -1;
    });
    const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
    let up = false;
    while (Date.now() < deadline && exited === undefined) {
      if (await bannerOk(host, port)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) {
      child.kill("SIGKILL");
      // a port taken between freePort() and sshd's bind: try another one
      if (attempt < 3 && /Address already in use|Cannot bind/i.test(log)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `sshd did not start on ${host}:${port} (exit ${String(exited)}): ${log.trim() || "no output"}`,
      );
    }
    const hostKeyLine = readFileSync(`${hostKey}.pub`, "utf8")
      .trim()
      .split(/\s+/)
      .slice(0, 2)
      .join(" ");
    const stop = async (): Promise<void> => {
      if (exited === undefined && child.exitCode === null) {
        await new Promise<void>((res) => {
          const t = setTimeout(() => {
            child.kill("SIGKILL");
            res();
          }, 3000);
          child.once("exit", () => {
            clearTimeout(t);
            res();
          });
          child.kill("SIGTERM");
        });
      }
      rmSync(dir, { recursive: true, force: true });
    };
    return {
      host,
      port,
      user,
      privateKey: readFileSync(clientKey, "utf8"),
      privateKeyPath: clientKey,
      hostKeyLine,
      knownHostsLine: `[${host}]:${port} ${hostKeyLine}`,
      dir,
      pid: child.pid ?? -1,
      stop,
    };
  }
}
