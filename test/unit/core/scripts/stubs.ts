/**
 * Stub binaries for running the rendered etcd backup, etcd restore and certificate renewal
 * scripts outside a container: fake etcdctl / etcdutl / kubeadm / sleep / chroot record their argv (tab-separated,
 * one invocation per line) in $STUB_LOG and act on files the way the real tools would.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RunResult } from "../../../integration/support/tools";

export const SHELLCHECK = "/usr/bin/shellcheck";
/** The busybox applet directory the integration tests use too (one implementation). */
export { busyboxBin } from "../../../integration/support/tools";

/** Runs shellcheck (bash dialect) on a script; throws with its findings or install advice. */
export function shellcheck(script: string): void {
  if (!fs.existsSync(SHELLCHECK))
    throw new Error(
      `${SHELLCHECK} is missing: install it with \`apt-get install shellcheck\` (Debian package)`,
    );
  const r = spawnSync(SHELLCHECK, ["--shell=bash", "--severity=info", "-"], {
    input: script,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`shellcheck found problems:\n${r.stdout}${r.stderr}`);
}

const RECORD = `{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> "$STUB_LOG"`;

const ETCDCTL = `#!/bin/bash
${RECORD}
if [ -n "\${STUB_ETCDCTL_FAIL:-}" ]; then
  echo "Error: context deadline exceeded (fake etcdctl)" >&2
  exit 1
fi
case " $* " in
  *" endpoint health "*) echo "https://127.0.0.1:2379 is healthy (fake etcdctl)"; exit 0 ;;
  *" member list "*) echo "8e9e05c52164694d, started, default (fake etcdctl)"; exit 0 ;;
esac
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = save ]; then out=$a; fi
  prev=$a
done
[ -n "$out" ] || { echo "fake etcdctl: no snapshot save target" >&2; exit 2; }
# Like etcd: a database padded to 512-byte pages, then the sha256 of it (32 bytes).
payload=FAKE-ETCD-SNAPSHOT
{ printf '%s' "$payload"; head -c $((512 - \${#payload})) /dev/zero; } > "$out.part"
if [ -n "\${STUB_ETCDCTL_BADHASH:-}" ]; then
  hex=$(printf 'something else' | sha256sum | cut -c1-64)
else
  hex=$(sha256sum "$out.part" | cut -c1-64)
fi
if [ -n "\${STUB_ETCDCTL_CORRUPT:-}" ]; then
  printf 'truncated' > "$out.part"
elif [ -z "\${STUB_ETCDCTL_NOTRAILER:-}" ]; then
  # shellcheck disable=SC2059
  printf "$(printf '%s' "$hex" | sed 's/../\\\\x&/g')" >> "$out.part"
fi
chmod 0600 "$out.part"
mv "$out.part" "$out"
echo "Snapshot saved at $out"
`;

const ETCDUTL = `#!/bin/bash
${RECORD}
case "$1 $2" in
  "snapshot status")
    if [ "$(head -c 18 "$3" 2>/dev/null)" = FAKE-ETCD-SNAPSHOT ]; then
      echo '{"hash":3787458990,"revision":42,"totalKey":17,"totalSize":20480,"version":"3.6.0"}'
    else
      echo "invalid database (fake etcdutl): failed to open $3" >&2
      exit 1
    fi
    ;;
  "snapshot restore")
    if [ -n "\${STUB_RESTORE_FAIL:-}" ]; then
      echo "restore failed: disk full (fake etcdutl)" >&2
      exit 1
    fi
    for a in "$@"; do case "$a" in --data-dir=*) mkdir -p "\${a#--data-dir=}/member/snap" ;; esac; done
    ;;
  *) echo "fake etcdutl: unexpected $*" >&2; exit 2 ;;
esac
`;

/**
 * Fake kubeadm. $STUB_CERTS holds "name residualSeconds externallyManaged missing" lines.
 * check-expiration prints them (only when called with -o jsonpath=..., as the script does),
 * plus a klog-style warning on stderr; renew <name>|all rewrites the residual time to one year
 * unless $STUB_RENEW_NOOP is set; $STUB_KUBEADM_FAIL=renew|check makes that command fail.
 */
const KUBEADM = `#!/bin/bash
${RECORD}
case "$1 $2" in
  "certs check-expiration")
    if [ "\${STUB_KUBEADM_FAIL:-}" = check ]; then
      echo "error: failed to load admin kubeconfig: open /etc/kubernetes/admin.conf: permission denied (fake kubeadm)" >&2
      exit 1
    fi
    json=0
    for a in "$@"; do case "$a" in jsonpath=*) json=1 ;; esac; done
    [ "$json" = 1 ] || { echo "fake kubeadm: expected -o jsonpath=..." >&2; exit 2; }
    echo "W1124 03:00:00.000000   1234 utils.go:69] fake warning: something to ignore" >&2
    while read -r n r e m; do
      [ -n "$n" ] && printf '%s %s %s %s\\n' "$n" "$r" "$e" "$m"
    done < "$STUB_CERTS"
    ;;
  "certs renew")
    if [ "\${STUB_KUBEADM_FAIL:-}" = renew ]; then
      echo "error: failed to renew certificate $3: unable to sign: ca.key: no such file (fake kubeadm)" >&2
      exit 1
    fi
    if [ -z "\${STUB_RENEW_NOOP:-}" ]; then
      tmp="$STUB_CERTS.new"
      : > "$tmp"
      while read -r n r e m; do
        [ -n "$n" ] || continue
        if { [ "$3" = all ] || [ "$3" = "$n" ]; } && [ "$e" = false ] && [ "$m" = false ]; then r=31535999; fi
        printf '%s %s %s %s\\n' "$n" "$r" "$e" "$m" >> "$tmp"
      done < "$STUB_CERTS"
      mv "$tmp" "$STUB_CERTS"
    fi
    echo "certificate $3 renewed"
    ;;
  *) echo "fake kubeadm: unexpected $*" >&2; exit 2 ;;
esac
`;

/** Fake sleep: records its argv and what the manifests dir and stash hold at that moment. */
const SLEEP = `#!/bin/bash
${RECORD}
{ printf 'manifests:'; ls "$STUB_MANIFESTS" | tr '\\n' ' '; printf '\\n'; } >> "$STUB_LOG"
if [ -n "\${STUB_SLEEP_TERM:-}" ]; then kill -TERM "$PPID"; fi
exit 0
`;

/** Fake chroot: records argv, then runs <root><program> with the rest (no real chroot). */
const CHROOT = `#!/bin/bash
${RECORD}
root=$1; prog=$2; shift 2
exec "$root$prog" "$@"
`;

export interface StubEnv {
  dir: string;
  bin: string;
  log: string;
  env: NodeJS.ProcessEnv;
  /** Recorded invocations, each as argv (program name first). */
  calls(): string[][];
  /** Raw log lines. */
  lines(): string[];
  cleanup(): void;
}

/** A temp dir with bin/ holding the stubs; env has PATH=bin:/usr/bin:/bin and STUB_LOG. */
export function makeStubs(extraEnv: Record<string, string> = {}): StubEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-scripts-"));
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  const log = path.join(dir, "calls.log");
  fs.writeFileSync(log, "");
  for (const [name, body] of Object.entries({
    etcdctl: ETCDCTL,
    etcdutl: ETCDUTL,
    kubeadm: KUBEADM,
    sleep: SLEEP,
    chroot: CHROOT,
  }))
    fs.writeFileSync(path.join(bin, name), body, { mode: 0o755 });
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:/usr/bin:/bin`,
    STUB_LOG: log,
    LC_ALL: "C",
    HOME: dir,
    ...extraEnv,
  };
  const lines = () =>
    fs
      .readFileSync(log, "utf8")
      .split("\n")
      .filter((l) => l !== "");
  return {
    dir,
    bin,
    log,
    env,
    lines,
    calls: () => lines().map((l) => l.split("\t")),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Runs a script with `<shell> -c` (or `<shell> -s` with stdin) under the stub environment;
 * shell is bash unless given ("/bin/sh" is dash on Debian).
 */
export function runScript(
  script: string,
  env: NodeJS.ProcessEnv,
  mode: "-c" | "-s" = "-c",
  shell = "bash",
): RunResult {
  const r =
    mode === "-c"
      ? spawnSync(shell, ["-c", script], { env, encoding: "utf8", timeout: 30000 })
      : spawnSync(shell, ["-s"], { env, input: script, encoding: "utf8", timeout: 30000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A fake kubeadm node's tools in `bin` for the rendered node upgrade script: apt-get / apt-mark /
 * dnf / yum / kubeadm / kubelet / systemctl / sudo record "<name> <args>" in $LOG; package
 * installs ("kubeadm=1.35.4-*" apt, "kubeadm-1.35.4-*" rpm) move the versions in $STATE/kubeadm
 * and $STATE/kubelet (with FAIL_INSTALL set they fail); `id` says `uid`; `systemctl` and
 * `kubeadm` also run the shell bodies `systemctl` (e.g. {@link kubeletRestartPatch}) and
 * `kubeadmBody`.
 * `state` gets the starting versions.
 */
export function writeNodeTools(
  bin: string,
  state: string,
  o: { kubelet: string; kubeadm: string; uid?: number; systemctl?: string; kubeadmBody?: string },
): void {
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(state, { recursive: true });
  fs.writeFileSync(path.join(state, "kubelet"), o.kubelet);
  fs.writeFileSync(path.join(state, "kubeadm"), o.kubeadm);
  const stub = (name: string, body = "") =>
    fs.writeFileSync(
      path.join(bin, name),
      `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> "$LOG"\n${body}\nexit 0\n`,
      { mode: 0o755 },
    );
  const install = `for a in "$@"; do
  case "$a" in
    kube*[=-][0-9]*) pkg=\${a%%[=-][0-9]*}; ver=\${a#"$pkg"?}; ver=\${ver%%-*}; printf 'v%s' "$ver" > "$STATE/$pkg" ;;
  esac
done
if [ -n "\${FAIL_INSTALL:-}" ] && [ "$1" != update ]; then echo "E: Unable to locate package" >&2; exit 100; fi`;
  stub("apt-get", install);
  stub("dnf", install);
  stub("yum", install);
  stub("apt-mark");
  stub("systemctl", o.systemctl);
  stub("kubeadm", `[ "$1" = version ] && cat "$STATE/kubeadm"\n${o.kubeadmBody ?? ""}`);
  stub("kubelet", `[ "$1" = --version ] && printf 'Kubernetes %s\\n' "$(cat "$STATE/kubelet")"`);
  fs.writeFileSync(path.join(bin, "id"), `#!/bin/sh\necho ${o.uid ?? 0}\n`, { mode: 0o755 });
  fs.writeFileSync(
    path.join(bin, "sudo"),
    `#!/bin/sh\nprintf '%s\\n' "sudo $*" >> "$LOG"\n[ "$1" = -n ] && shift\nexec "$@"\n`,
    { mode: 0o755 },
  );
}

/**
 * A `systemctl` body for {@link writeNodeTools}: `systemctl restart kubelet` makes the (kwok)
 * node report the kubelet version in $STATE/kubelet, as a real kubelet restart does, with a
 * status patch through the real kubectl. Fails when the patch does.
 */
export function kubeletRestartPatch(kubectl: string, kubeconfigPath: string, node: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `if [ "$1" = restart ] && [ "$2" = kubelet ]; then
  v=$(cat "$STATE/kubelet")
  ${q(kubectl)} --kubeconfig ${q(kubeconfigPath)} patch node ${q(node)} --subresource=status --type=merge \\
    -p "{\\"status\\":{\\"nodeInfo\\":{\\"kubeletVersion\\":\\"$v\\",\\"kubeProxyVersion\\":\\"$v\\"}}}" >/dev/null || exit 1
fi`;
}

/** One invocation recorded by {@link argvRecorder}: the program as run ($0) and its argv. */
export interface RecordedCall {
  readonly program: string;
  readonly args: readonly string[];
}

export interface ArgvRecorder {
  readonly bin: string;
  /** PATH is `bin` only: nothing outside the recorders runs, so the script touches no file. */
  readonly env: NodeJS.ProcessEnv;
  /**
   * Adds (or replaces) a recorder named `name`; `body` (bash, run after the argv is recorded and
   * the stop check) makes it act like the tool, e.g. print a version.
   */
  add(name: string, body?: string): void;
  calls(): RecordedCall[];
  cleanup(): void;
}

/**
 * Fake commands `names` that record their exact argv (NUL-separated, so any byte survives) in a
 * log and exit 0, or 1 when one of their arguments is `stopAt`: that stops a `set -e` script at
 * the call under test, before anything else runs.
 */
export function argvRecorder(names: readonly string[], stopAt: string): ArgvRecorder {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-argv-"));
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  const log = path.join(dir, "argv.log");
  fs.writeFileSync(log, "");
  const add = (name: string, body = "") =>
    fs.writeFileSync(
      path.join(bin, name),
      `#!/bin/bash\nprintf '%s\\0' "$#" "$0" "$@" >> "$ARGV_LOG"\n` +
        `for a in "$@"; do [ "$a" != "$ARGV_STOP" ] || exit 1; done\n${body}\nexit 0\n`,
      { mode: 0o755 },
    );
  for (const name of names) add(name);
  return {
    bin,
    env: { PATH: bin, ARGV_LOG: log, ARGV_STOP: stopAt, LC_ALL: "C", HOME: dir },
    add,
    calls() {
      const parts = fs.readFileSync(log, "utf8").split("\u0000");
      const out: RecordedCall[] = [];
      for (let i = 0; i + 1 < parts.length;) {
        const n = Number(parts[i]);
        out.push({ program: parts[i + 1], args: parts.slice(i + 2, i + 2 + n) });
        i += 2 + n;
      }
      return out;
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
