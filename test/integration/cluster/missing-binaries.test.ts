/**
 * Without the cached binaries the integration project must fail at once, naming what is
 * missing and the command that builds it (never skip, never hang). Runs the real globalSetup
 * in a child process whose KU_CACHE is an empty directory.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../../cluster/cluster";

const run = promisify(execFile);

test("globalSetup fails with the build command when binaries are missing", async () => {
  const cache = mkdtempSync(join(tmpdir(), "ku-empty-cache-"));
  try {
    const script =
      'import("./test/cluster/global-setup.ts").then((m) => m.default.default ? m.default.default() : m.default())' +
      ".then(() => process.exit(0), (e) => { process.stderr.write(String(e.message)); process.exit(3); });";
    let code = 0;
    let stderr = "";
    try {
      await run(process.execPath, ["--import", "tsx", "-e", script], {
        cwd: REPO_ROOT,
        timeout: 60_000,
        env: { ...process.env, KU_CACHE: cache, KU_KUBECONFIG: "", KUBECONFIG: "" },
      });
    } catch (e) {
      const err = e as { code?: number; stderr?: string };
      code = err.code ?? -1;
      stderr = err.stderr ?? "";
    }
    expect(code).toBe(3);
    expect(stderr).toContain("local control plane binaries are missing");
    expect(stderr).toContain(join(cache, "bin", "kube-apiserver-v1.35.4"));
    expect(stderr).toContain("npm run cluster:build");
    expect(stderr).toMatch(/cold build took about \d+ minutes/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}, 90_000);
