/**
 * SSH faults for the e2e tests, on the loopback sshd of test/cluster/sshd.ts: kill it the way a
 * crashed or stopped sshd goes (the listener and every session process, SIGKILL), and start it
 * again on the same port with the same host key and authorized keys, so clients that pinned the
 * host key connect as before.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { pidAlive } from "../cluster/cluster";
import { waitFor } from "../cluster/fixtures";
import { SSHD_BINARY, type SshServer } from "../cluster/sshd";
import { descendants } from "./processes";

/** The sshd processes under `pid` (the per-connection "sshd: user@notty" sessions), not their commands. */
function sshdSessions(pid: number): number[] {
  return descendants(pid)
    .filter((p) => /^sshd(-session)?( |:|$)/.test(p.args))
    .map((p) => p.pid);
}

/** A running sshd: the one startSshd started, or one restarted by {@link restartSshd}. */
export interface SshdProcess {
  readonly pid: number;
  /** Stops it (SIGTERM, then SIGKILL after 3 s); the keys and config stay (sshd.stop() removes them). */
  stop(): Promise<void>;
}

/**
 * SIGKILL to the listening sshd and to every session process under it: established connections
 * drop at once (the client sees "Connection ... closed by remote host"), new ones are refused.
 * The commands the sessions ran are not killed: like on a real host, they die at their next
 * write to the gone connection (SIGPIPE), or run on if they write nothing. Returns what was
 * killed.
 */
export async function killSshd(listener: { pid: number }): Promise<{ sessions: number }> {
  const sessions = sshdSessions(listener.pid);
  for (const pid of [listener.pid, ...sessions]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  await waitFor(async () => ![listener.pid, ...sessions].some(pidAlive), {
    timeoutMs: 10_000,
    what: "the killed sshd processes to be gone",
  });
  return { sessions: sessions.length };
}

/** Starts sshd again from the server's own config (same port, host key and authorized keys). */
export async function restartSshd(server: SshServer): Promise<SshdProcess> {
  const child: ChildProcess = spawn(
    SSHD_BINARY,
    ["-D", "-e", "-f", join(server.dir, "sshd_config")],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  try {
    // sshd -e logs "Server listening on <host> port <port>." once it accepts connections
    const listening = `Server listening on ${server.host} port ${server.port}`;
    await waitFor(() => child.exitCode === null && log.includes(listening), {
      timeoutMs: 15_000,
      what: `sshd back on ${server.host}:${server.port}`,
    });
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${(e as Error).message}: ${log.trim() || "no output"}`);
  }
  return {
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
