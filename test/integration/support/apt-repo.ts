/**
 * A tiny apt repository shaped like pkgs.k8s.io, for the package-repository and preflight tests:
 * one flat repository per minor under `<base>/core:/stable:/vX.Y/deb/` (`deb [signed-by=...]
 * <url> /`), each with dummy .deb packages built by dpkg-deb, a `Packages` index, a `Release`
 * signed by a key generated here (`InRelease`, `Release.gpg`) and the key as `Release.key`
 * (ASCII-armored, as pkgs.k8s.io serves it), served over plain HTTP by `python3 -m http.server`
 * on 127.0.0.1. Also a fake apt root (`APT_CONFIG` with `Dir "<root>/"`) whose sources point at it
 * the way the install guide configures a node.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { requireHostTool } from "./tools";

export interface AptRepoServer {
  /** http://127.0.0.1:<port> (no trailing slash). */
  readonly base: string;
  /** The URL of one minor's repository, e.g. `${base}/core:/stable:/v1.35/deb/`. */
  url(minor: string): string;
  /** Request lines the server logged so far ("GET /core:/stable:/v1.35/deb/Release.key"). */
  requests(): string[];
  /** The dearmored (binary) public key, for a node's keyring. */
  readonly keyring: Buffer;
  stop(): void;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: "buffer", ...opts });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr?.toString()}`);
  return r.stdout;
}

/** Builds a dummy .deb of `pkg` at `version` into `dir`; returns its file name. */
function buildDeb(work: string, dir: string, pkg: string, version: string): string {
  const root = join(work, `${pkg}_${version}`);
  mkdirSync(join(root, "DEBIAN"), { recursive: true });
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  writeFileSync(
    join(root, "DEBIAN/control"),
    [
      `Package: ${pkg}`,
      `Version: ${version}`,
      "Architecture: amd64",
      "Maintainer: kube-upkeep tests <tests@kube-upkeep.invalid>",
      `Description: dummy ${pkg} for kube-upkeep's repository tests`,
      "",
    ].join("\n"),
  );
  writeFileSync(join(root, `usr/bin/${pkg}`), `#!/bin/sh\necho ${pkg} ${version}\n`, {
    mode: 0o755,
  });
  const file = `${pkg}_${version}_amd64.deb`;
  run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", root, join(dir, file)]);
  return file;
}

/**
 * Builds the repositories (`packages`: per minor, the package versions, e.g.
 * { "v1.35": { kubeadm: ["1.35.4-1.1"], ... } }) under `dir` and serves them.
 */
export async function startAptRepo(
  dir: string,
  packages: Record<string, Record<string, readonly string[]>>,
): Promise<AptRepoServer> {
  requireHostTool("/usr/bin/dpkg-deb", "dpkg");
  requireHostTool("/usr/bin/gpg", "gpg");
  const gnupg = join(dir, "gnupg");
  mkdirSync(gnupg, { recursive: true, mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupg };
  run(
    "gpg",
    [
      "--batch",
      "--passphrase",
      "",
      "--quick-gen-key",
      "kube-upkeep test repository <repo@kube-upkeep.invalid>",
      "ed25519",
      "sign",
      "never",
    ],
    { env },
  );
  const armored = run("gpg", ["--batch", "--armor", "--export"], { env }).toString();
  const keyring = run("gpg", ["--batch", "--export"], { env });
  const www = join(dir, "www");
  const work = join(dir, "work");
  for (const [minor, pkgs] of Object.entries(packages)) {
    const repo = join(www, "core:", "stable:", minor, "deb");
    mkdirSync(join(repo, "amd64"), { recursive: true });
    const stanzas: string[] = [];
    for (const [pkg, versions] of Object.entries(pkgs))
      for (const v of versions) {
        const file = buildDeb(work, join(repo, "amd64"), pkg, v);
        const path = join(repo, "amd64", file);
        const data = readFileSync(path);
        const fields = run("dpkg-deb", ["-f", path]).toString().trimEnd();
        stanzas.push(
          [
            fields,
            `Filename: amd64/${file}`,
            `Size: ${statSync(path).size}`,
            `SHA256: ${createHash("sha256").update(data).digest("hex")}`,
          ].join("\n"),
        );
      }
    const index = stanzas.join("\n\n") + "\n";
    writeFileSync(join(repo, "Packages"), index);
    const release = [
      "Origin: kube-upkeep-test",
      "Label: kube-upkeep-test",
      `Date: ${new Date(Date.now() - 60_000).toUTCString()}`,
      "Architectures: amd64",
      "SHA256:",
      ` ${createHash("sha256").update(index).digest("hex")} ${Buffer.byteLength(index)} Packages`,
      "",
    ].join("\n");
    writeFileSync(join(repo, "Release"), release);
    run(
      "gpg",
      ["--batch", "--yes", "--clearsign", "-o", join(repo, "InRelease"), join(repo, "Release")],
      {
        env,
      },
    );
    run(
      "gpg",
      ["--batch", "--yes", "-abs", "-o", join(repo, "Release.gpg"), join(repo, "Release")],
      { env },
    );
    writeFileSync(join(repo, "Release.key"), armored);
  }

  // the request log goes to a file: the tests run the scripts with spawnSync, which blocks the
  // event loop, so a pipe would be read only afterwards (and could fill up)
  const logFile = join(dir, "requests.log");
  const logFd = openSync(logFile, "a");
  const server: ChildProcess = spawn(
    "python3",
    ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", www],
    { stdio: ["ignore", "pipe", logFd] },
  );
  closeSync(logFd);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("python3 http.server did not start")), 15_000);
    server.on("error", reject);
    server.stdout!.on("data", (b: Buffer) => {
      const m = /port (\d+)/.exec(b.toString());
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    url: (minor) => `${base}/core:/stable:/${minor}/deb/`,
    requests: () =>
      readFileSync(logFile, "utf8")
        .split("\n")
        .map((l) => /"(GET [^ ]+)/.exec(l)?.[1])
        .filter((l): l is string => l !== undefined)
        .map((l) => decodeURIComponent(l)),
    keyring,
    stop: () => void server.kill("SIGTERM"),
  };
}

/**
 * A fake node's apt root under `root`: etc/apt (sources.list.d, keyrings, apt.conf.d), var/lib/apt,
 * var/cache/apt, an empty dpkg status; `sources` is written to sources.list.d/kubernetes.list and
 * `keyring` to etc/apt/keyrings/kubernetes-apt-keyring.gpg (the install guide's names). Returns
 * the APT_CONFIG file that points apt there (`Dir "<root>/"`). Directories are 0755 so apt's
 * download sandbox (user _apt) can work as on a real node.
 */
export function fakeAptRoot(root: string, sources: string, keyring: Buffer): string {
  for (const d of [
    "etc/apt/sources.list.d",
    "etc/apt/keyrings",
    "etc/apt/apt.conf.d",
    "etc/apt/preferences.d",
    "var/lib/apt/lists/partial",
    "var/cache/apt/archives/partial",
    "var/lib/dpkg",
  ])
    mkdirSync(join(root, d), { recursive: true });
  let p = root;
  chmodSync(p, 0o755);
  for (const seg of ["etc", "etc/apt", "var", "var/lib", "var/lib/apt", "var/cache"]) {
    p = join(root, seg);
    chmodSync(p, 0o755);
  }
  writeFileSync(join(root, "var/lib/dpkg/status"), "");
  writeFileSync(join(root, "etc/apt/sources.list.d/kubernetes.list"), sources);
  writeFileSync(join(root, "etc/apt/keyrings/kubernetes-apt-keyring.gpg"), keyring, {
    mode: 0o644,
  });
  const conf = join(root, "apt.conf");
  writeFileSync(conf, `Dir "${root}/";\n`);
  return conf;
}
