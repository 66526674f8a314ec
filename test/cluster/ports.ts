/** The test harness's one free-port helper (kwok clusters, sshd, etcd members). */
import { createServer } from "node:net";

/** Ports handed out by this process (never handed out twice). */
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Picked at random from 20000-29999, below
 * the kernel's ephemeral range (32768+), so the many short client connections of a test run
 * (their local ports come from that range) cannot take it before the server binds it, and
 * processes starting at the same time rarely pick the same one (a bind that loses the race
 * fails with EADDRINUSE: the callers retry or fail loudly).
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port found in 20000-29999 on 127.0.0.1");
}
