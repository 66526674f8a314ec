import * as fs from "node:fs";
import * as path from "node:path";
import { ValidationError } from "../../../../lib/core/errors";
import {
  renderStaticPodManifestSteps,
  validateStashDir,
  type StaticPodManifestOptions,
} from "../../../../lib/core/scripts/static-pod-manifests";
import { busyboxBin, makeStubs, runScript, shellcheck, type StubEnv } from "./stubs";

// Each test spawns shells and stubs; on a busy 2-core machine that takes seconds.
jest.setTimeout(60_000);

const MANIFESTS = ["etcd.yaml", "kube-apiserver.yaml", "kube-scheduler.yaml"];

const FUNCTION_OPTS: StaticPodManifestOptions = {
  stashPrefix: "kube-upkeep-manifests",
  context: "function",
  requireManifests: true,
};
const TOP_LEVEL_OPTS: StaticPodManifestOptions = {
  stashPrefix: "kube-upkeep-restore",
  leftoverPrefixes: ["kube-upkeep-restore", "kube-upkeep-manifests"],
  context: "top-level",
  exitHandler: "on_exit",
};

/** The steps in a script shaped like the certificate renewal: inside one shell function. */
function functionScript(manifests: string, stashParent: string, wait = 7): string {
  const m = renderStaticPodManifestSteps(FUNCTION_OPTS);
  return [
    "set -eu",
    `manifests_dir=${manifests}`,
    `stash_parent=${stashParent}`,
    `restart_wait=${wait}`,
    'stash=""',
    "log() { printf '%s\\n' \"$*\" >&2; }",
    ...m.restoreFunction,
    "restart_static_pods() {",
    ...m.refuseLeftovers,
    ...m.stash,
    ...m.unstash,
    "}",
    "restart_static_pods",
    'log "done"',
    "",
  ].join("\n");
}

/** The steps in a script shaped like the etcd restore: top level, an EXIT handler of its own. */
function topLevelScript(
  manifests: string,
  stashParent: string,
  opts: StaticPodManifestOptions = TOP_LEVEL_OPTS,
): string {
  const m = renderStaticPodManifestSteps(opts);
  return [
    "set -euo pipefail",
    `manifests_dir=${manifests}`,
    `stash_parent=${stashParent}`,
    "restart_wait=7",
    'stash=""',
    "log() { printf '%s\\n' \"$*\" >&2; }",
    'fail() { log "ERROR: $*"; exit 1; }',
    ...m.restoreFunction,
    "on_exit() {",
    "  status=$?",
    '  log "on_exit with status $status"',
    "  restore_manifests",
    '  exit "$status"',
    "}",
    ...m.refuseLeftovers,
    ...m.stash,
    'if [ -n "${FAIL_WHILE_STASHED:-}" ]; then fail "failing while stashed"; fi',
    ...m.unstash,
    'log "done"',
    "",
  ].join("\n");
}

interface Fixture {
  s: StubEnv;
  manifests: string;
  stashParent: string;
}

function fixture(): Fixture {
  const s = makeStubs();
  const manifests = path.join(s.dir, "etc/kubernetes/manifests");
  const stashParent = path.join(s.dir, "etc/kubernetes/tmp");
  fs.mkdirSync(manifests, { recursive: true });
  for (const m of MANIFESTS) fs.writeFileSync(path.join(manifests, m), `# ${m}\n`);
  s.env.STUB_MANIFESTS = manifests;
  return { s, manifests, stashParent };
}

/** The manifests are back where they were and no stash is left. */
function expectRestored(fx: Fixture, stderr: string): void {
  expect(stderr).toContain(`moved the static pod manifests back to ${fx.manifests}`);
  expect(fs.readdirSync(fx.manifests).sort()).toEqual(MANIFESTS);
  expect(fs.readdirSync(fx.stashParent)).toEqual([]);
}

let f: Fixture | undefined;
afterEach(() => {
  f?.s.cleanup();
  f = undefined;
});

describe("renderStaticPodManifestSteps: rendering", () => {
  test("function context: indented two spaces, failures log ERROR and return 1", () => {
    const m = renderStaticPodManifestSteps(FUNCTION_OPTS);
    for (const l of [...m.refuseLeftovers, ...m.stash, ...m.unstash]) expect(l).toMatch(/^ {2}/);
    expect(m.refuseLeftovers.join("\n")).toContain(
      '    for d in "$stash_parent"/kube-upkeep-manifests.*; do\n' +
        '      [ -d "$d" ] || continue\n' +
        '      log "ERROR: $d holds manifests from an interrupted run; move them back to $manifests_dir and remove $d"\n' +
        "      return 1\n",
    );
    expect(m.stash).toContain('  stash=$(mktemp -d "$stash_parent/kube-upkeep-manifests.XXXXXX")');
    expect(m.stash).toContain("  trap restore_manifests EXIT");
    expect(m.stash).toContain("  trap 'restore_manifests; exit 143' TERM INT");
    expect(m.stash).toContain(
      '  log "moved $found static pod manifests to $stash; waiting ${restart_wait}s for the kubelet to stop the pods"',
    );
    expect(m.unstash).toEqual(["  restore_manifests", "  trap - EXIT TERM INT"]);
  });

  test("top-level context: not indented, failures call fail, EXIT runs the given handler", () => {
    const m = renderStaticPodManifestSteps(TOP_LEVEL_OPTS);
    expect(m.refuseLeftovers).toEqual([
      'if [ -d "$stash_parent" ]; then',
      '  for d in "$stash_parent"/kube-upkeep-restore.* "$stash_parent"/kube-upkeep-manifests.*; do',
      '    [ -d "$d" ] || continue',
      '    fail "$d holds manifests from an interrupted run; move them back to $manifests_dir and remove $d"',
      "  done",
      "fi",
    ]);
    expect(m.stash[0]).toBe('mkdir -p "$stash_parent"');
    expect(m.stash).toContain("trap on_exit EXIT");
    expect(m.stash).toContain("trap 'exit 143' TERM INT");
    expect(m.stash).toContain(
      'log "moved the static pod manifests to $stash; waiting ${restart_wait}s for the kubelet to stop the pods"',
    );
    expect(m.stash.join("\n")).not.toContain("found");
    expect(m.unstash).toEqual(["restore_manifests", "trap - EXIT TERM INT"]);
  });

  test("the restore function is the same in both contexts", () => {
    expect(renderStaticPodManifestSteps(FUNCTION_OPTS).restoreFunction).toEqual(
      renderStaticPodManifestSteps(TOP_LEVEL_OPTS).restoreFunction,
    );
  });

  test("leftoverPrefixes defaults to the stash prefix", () => {
    const m = renderStaticPodManifestSteps({ stashPrefix: "x-stash", context: "top-level" });
    expect(m.refuseLeftovers[1]).toBe('  for d in "$stash_parent"/x-stash.*; do');
  });

  test.each([
    ["a stash prefix with a slash", { stashPrefix: "a/b" }, /invalid stashPrefix "a\/b"/],
    ["a glob in a leftover prefix", { leftoverPrefixes: ["*"] }, /invalid leftoverPrefixes\[0\]/],
    ["no leftover prefixes", { leftoverPrefixes: [] }, /invalid leftoverPrefixes .*empty list/],
    ["an unknown context", { context: "subshell" }, /invalid context "subshell"/],
    ["an exit handler that is not a name", { exitHandler: "rm -rf /" }, /invalid exitHandler/],
  ])("rejects %s", (_name, extra, re) => {
    const render = () =>
      renderStaticPodManifestSteps({ ...FUNCTION_OPTS, ...extra } as StaticPodManifestOptions, "t");
    expect(render).toThrow(ValidationError);
    expect(render).toThrow(re);
    expect(render).toThrow(/^t: invalid .*\. Fix: /);
  });
});

describe("validateStashDir", () => {
  test("accepts a directory outside the manifests directory", () => {
    expect(validateStashDir("w", "/etc/kubernetes/tmp", "/etc/kubernetes/manifests")).toBe(
      "/etc/kubernetes/tmp",
    );
    expect(
      validateStashDir("w", "/etc/kubernetes/manifests-old", "/etc/kubernetes/manifests"),
    ).toBe("/etc/kubernetes/manifests-old");
  });

  test.each(["/etc/kubernetes/manifests", "/etc/kubernetes/manifests/old"])(
    "rejects %s inside the manifests directory",
    (dir) => {
      expect(() => validateStashDir("w", dir, "/etc/kubernetes/manifests")).toThrow(
        /^w: invalid stashDir .*: is inside manifestsDir \/etc\/kubernetes\/manifests, where the kubelet would still see the manifests\. Fix: /,
      );
    },
  );

  test("rejects a relative path", () => {
    expect(() => validateStashDir("w", "tmp", "/etc/kubernetes/manifests")).toThrow(
      /invalid stashDir "tmp": path is relative/,
    );
  });
});

describe("renderStaticPodManifestSteps: the rendered steps run", () => {
  test("shellcheck passes on both shapes", () => {
    shellcheck("#!/usr/bin/env bash\n" + functionScript("/m", "/t"));
    shellcheck("#!/usr/bin/env bash\n" + topLevelScript("/m", "/t"));
  });

  test("function context: manifests out during the wait, back afterwards, stash removed", () => {
    f = fixture();
    const r = runScript(functionScript(f.manifests, f.stashParent), f.s.env);
    expect(r.stderr).toMatch(
      /moved 3 static pod manifests to .*kube-upkeep-manifests\.\w+; waiting 7s/,
    );
    expect(r.status).toBe(0);
    expect(f.s.lines()).toEqual(["sleep\t7", "manifests:"]); // empty while waiting
    expect(r.stderr).toContain("done");
    expectRestored(f, r.stderr);
  });

  test("function context under busybox sh (as in the CronJob's image): out and back", () => {
    f = fixture();
    // busybox sh runs its own sleep applet, not the stub: wait one real second
    f.s.env.PATH = `${f.s.bin}:${busyboxBin(f.s.dir)}`;
    const r = runScript(functionScript(f.manifests, f.stashParent, 1), f.s.env, "-c", "sh");
    expect(r.stderr).toMatch(/moved 3 static pod manifests to .*; waiting 1s/);
    expect(r.status).toBe(0);
    expectRestored(f, r.stderr);
  });

  test.each([
    ["function", functionScript, "moved 3 static pod manifests to"],
    ["top-level", topLevelScript, "on_exit with status 143"],
  ])(
    "%s context: SIGTERM during the wait puts the manifests back and exits 143",
    (_c, script, says) => {
      f = fixture();
      f.s.env.STUB_SLEEP_TERM = "1";
      const r = runScript(script(f.manifests, f.stashParent), f.s.env);
      expect(r.status).toBe(143);
      expect(r.stderr).toContain(says);
      expect(r.stderr).not.toContain("done");
      expectRestored(f, r.stderr);
    },
  );

  test("function context: no manifests is an error, nothing is stashed", () => {
    f = fixture();
    for (const m of MANIFESTS) fs.rmSync(path.join(f.manifests, m));
    const r = runScript(functionScript(f.manifests, f.stashParent), f.s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `ERROR: no static pod manifests in ${f.manifests}; is this a kubeadm control-plane node?`,
    );
    expect(fs.existsSync(f.stashParent)).toBe(false);
    expect(f.s.lines()).toEqual([]);
  });

  test.each([
    ["function", "kube-upkeep-manifests.abc123"],
    ["top-level", "kube-upkeep-manifests.abc123"],
    ["top-level", "kube-upkeep-restore.abc123"],
  ])("%s context: a leftover stash %s stops the run before anything moves", (context, leftover) => {
    f = fixture();
    const left = path.join(f.stashParent, leftover);
    fs.mkdirSync(left, { recursive: true });
    const script =
      context === "function"
        ? functionScript(f.manifests, f.stashParent)
        : topLevelScript(f.manifests, f.stashParent);
    const r = runScript(script, f.s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `ERROR: ${left} holds manifests from an interrupted run; move them back to ${f.manifests} and remove ${left}`,
    );
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
    expect(fs.readdirSync(f.stashParent)).toEqual([leftover]);
    expect(f.s.lines()).toEqual([]);
  });

  test("top-level context with requireManifests: counts without `local`, moves them, fails on none", () => {
    const opts = { ...TOP_LEVEL_OPTS, requireManifests: true };
    expect(renderStaticPodManifestSteps(opts).stash.join("\n")).not.toMatch(/\blocal\b/);
    f = fixture();
    let r = runScript(topLevelScript(f.manifests, f.stashParent, opts), f.s.env);
    expect(r.stderr).toContain(`moved ${MANIFESTS.length} static pod manifests`);
    expectRestored(f, r.stderr);
    for (const m of MANIFESTS) fs.rmSync(path.join(f.manifests, m));
    r = runScript(topLevelScript(f.manifests, f.stashParent, opts), f.s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ERROR: no static pod manifests in ${f.manifests}`);
  });

  test("function context: a stash of the other kind (kube-upkeep-restore) is not looked at", () => {
    f = fixture();
    fs.mkdirSync(path.join(f.stashParent, "kube-upkeep-restore.abc123"), { recursive: true });
    const r = runScript(functionScript(f.manifests, f.stashParent), f.s.env);
    expect(r.status).toBe(0);
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
  });

  test("top-level context: a failure while stashed goes through the EXIT handler, which puts them back", () => {
    f = fixture();
    f.s.env.FAIL_WHILE_STASHED = "1";
    const r = runScript(topLevelScript(f.manifests, f.stashParent), f.s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /moved the static pod manifests to .*kube-upkeep-restore\.\w+; waiting 7s/,
    );
    expect(r.stderr).toContain("ERROR: failing while stashed");
    expect(r.stderr).toContain("on_exit with status 1");
    expectRestored(f, r.stderr);
  });

  test("top-level context: success leaves no traps behind (exit after unstash runs no handler)", () => {
    f = fixture();
    const r = runScript(topLevelScript(f.manifests, f.stashParent), f.s.env);
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain("on_exit");
    expect(r.stderr).toContain("done");
    expectRestored(f, r.stderr);
  });
});
