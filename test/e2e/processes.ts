/**
 * Processes as /proc shows them, for the e2e fault tests: what a killed `pulumi` CLI left behind
 * (its plugins run in process groups of their own and outlive it), and sshd's session processes.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface Proc {
  readonly pid: number;
  readonly pgid: number;
  readonly args: string;
}

/** The command line of `pid` ("" when it is gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Every process below `pid` (children, grandchildren, ...), from /proc. */
export function descendants(pid: number): Proc[] {
  const procs = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ")"
        const [, ppid, pgid] = stat
          .slice(stat.lastIndexOf(")") + 2)
          .split(" ")
          .map(Number);
        return [{ pid: Number(d), ppid, pgid, args: cmdline(Number(d)) }];
      } catch {
        return []; // exited meanwhile
      }
    });
  const out: Proc[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of procs.filter((q) => q.ppid === parent)) {
      out.push({ pid: p.pid, pgid: p.pgid, args: p.args });
      queue.push(p.pid);
    }
  }
  return out;
}

/**
 * SIGKILL to each process's group when it has one of its own (Pulumi's plugins do), else to the
 * process; only while /proc still shows the same command line (a pid is not reused meanwhile).
 */
export function stopProcesses(procs: readonly Proc[]): void {
  const ownGroup = Number(
    readFileSync(`/proc/${process.pid}/stat`, "utf8").split(") ")[1].split(" ")[2],
  );
  for (const p of procs) {
    if (cmdline(p.pid) !== p.args) continue;
    try {
      process.kill(p.pgid !== ownGroup && p.pgid > 1 ? -p.pgid : p.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}
