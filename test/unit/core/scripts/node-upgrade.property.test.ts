/**
 * Property tests of the node upgrade script (lib/core/scripts/node-upgrade.ts), run with /bin/sh
 * (dash, as `sh -s` runs it on a node) on a fake node: argv recorders (stubs.ts) for every tool
 * the script calls, with just enough behaviour to be a node: `kubeadm version` / `kubelet
 * --version` read versions from a state directory, a package install of kubeadm or kubelet moves
 * it to the target, `sudo` and `env` run the rest of their argv, `id -u` says $STUB_UID. PATH
 * holds nothing else, so every tool call is recorded and nothing outside the stubs runs.
 *
 *  - arbitrary strings as packageVersion, kubeadmFlags[0] and targetVersion are rejected with a
 *    ValidationError naming the field, or reach the tool's argv unchanged, as one word;
 *  - generated valid settings (every package manager, sudo mode, flag shape, version shape):
 *    the recorded calls are exactly the kubeadm upgrade procedure, written out below from the
 *    official docs (kubeadm package, `kubeadm upgrade apply|node`, kubelet/kubectl packages,
 *    kubelet restart), each value one argv word;
 *  - re-runs do no completed step twice: on a node already at the target only `kubelet
 *    --version` runs; after an interrupted run that upgraded the kubeadm package, the re-run
 *    leaves the kubeadm package alone and continues from `kubeadm upgrade`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import {
  renderNodeUpgradeScript,
  type NodeUpgradeScriptOptions,
} from "../../../../lib/core/scripts/node-upgrade";
import { expectRejectedOrDelivered, nasty } from "./properties";
import { argvRecorder, runScript } from "./stubs";

// many dash + stub processes per property on a busy 2-core machine
jest.setTimeout(180_000);

const FROM = "v1.34.4";

/** The fake node's tools: argv recorders with the behaviour described in the file comment. */
const NODE_TOOLS: Record<string, string> = {
  kubeadm: `[ "$1" = version ] && printf '%s\\n' "$(<"$STATE/kubeadm")"`,
  kubelet: `[ "$1" = --version ] && printf 'Kubernetes %s\\n' "$(<"$STATE/kubelet")"`,
  "apt-get": INSTALL(),
  dnf: INSTALL(),
  yum: INSTALL(),
  "apt-mark": "",
  systemctl: "",
  id: `printf '%s\\n' "$STUB_UID"`,
  sudo: `[ "$1" = -n ] && shift\nexec "$@"`,
  env: `while [ $# -gt 0 ] && [ "\${1#*=}" != "$1" ]; do export "$1"; shift; done\nexec "$@"`,
};

/** A package manager stub: installing kubeadm or kubelet (apt `p=v`, rpm `p-v`) moves it to $STUB_TARGET. */
function INSTALL(): string {
  return `for a in "$@"; do
  case "$a" in
    kubeadm=*|kubeadm-[0-9]*) printf '%s' "$STUB_TARGET" > "$STATE/kubeadm" ;;
    kubelet=*|kubelet-[0-9]*) printf '%s' "$STUB_TARGET" > "$STATE/kubelet" ;;
  esac
done`;
}

interface FakeNode {
  /** Runs the script; returns its exit status, stderr and the calls recorded in this run. */
  run(script: string): { status: number | null; stderr: string; calls: string[][] };
  set(tool: "kubeadm" | "kubelet", version: string): void;
  cleanup(): void;
}

/** A fake node at `FROM` (kubeadm and kubelet), upgrading to `target`, running as `uid`. */
function fakeNode(target: string, uid: number): FakeNode {
  const rec = argvRecorder([], `no-stop-${process.pid}-${Math.random()}`);
  for (const [name, body] of Object.entries(NODE_TOOLS)) rec.add(name, body);
  const state = path.join(path.dirname(rec.bin), "state");
  fs.mkdirSync(state);
  const set = (tool: string, v: string) => fs.writeFileSync(path.join(state, tool), v);
  set("kubeadm", FROM);
  set("kubelet", FROM);
  let seen = 0;
  return {
    set,
    run(script) {
      const env = { ...rec.env, STATE: state, STUB_TARGET: target, STUB_UID: String(uid) };
      const r = runScript(script, env, "-c", "/bin/sh");
      const all = rec.calls().map((c) => [path.basename(c.program), ...c.args]);
      const calls = all.slice(seen);
      seen = all.length;
      return { status: r.status, stderr: r.stderr, calls };
    },
    cleanup: rec.cleanup,
  };
}

/**
 * The calls of an upgrade of a node at FROM, as the kubeadm upgrade docs give them
 * (kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/), with root gained as
 * `sudo` says; `kubeadmDone`: the kubeadm package is at the target already (a re-run).
 */
function procedure(
  o: NodeUpgradeScriptOptions,
  target: string,
  uid: number,
  kubeadmDone = false,
): string[][] {
  const pm = o.packageManager ?? "apt";
  const sudo = o.sudo ?? "auto";
  const pkgVersion = o.packageVersion ?? `${target.replace(/^v/, "")}-*`;
  const calls: string[][] = [];
  const asRoot = (...argv: string[]) => {
    if (sudo === "auto") calls.push(["id", "-u"]);
    if (sudo === "always" || (sudo === "auto" && uid !== 0)) calls.push(["sudo", "-n", ...argv]);
    calls.push(argv);
    if (argv[0] === "env") calls.push(argv.slice(2)); // env VAR=value program ...
  };
  const install = (pkgs: string[]) => {
    if (pm === "apt") {
      asRoot("apt-mark", "unhold", ...pkgs);
      asRoot(
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        ...pkgs.map((p) => `${p}=${pkgVersion}`),
      );
      asRoot("apt-mark", "hold", ...pkgs);
    } else {
      asRoot(
        pm,
        "install",
        "-y",
        ...pkgs.map((p) => `${p}-${pkgVersion}`),
        "--disableexcludes=kubernetes",
      );
    }
  };
  calls.push(["kubelet", "--version"], ["kubeadm", "version", "-o", "short"]);
  if (!kubeadmDone) {
    if (pm === "apt" && o.updatePackageIndex !== false) asRoot("apt-get", "update");
    install(["kubeadm"]);
    calls.push(["kubeadm", "version", "-o", "short"]);
  }
  const flags = [...(o.kubeadmFlags ?? [])];
  if (o.mode === "apply") asRoot("kubeadm", "upgrade", "apply", target, "-y", ...flags);
  else asRoot("kubeadm", "upgrade", "node", ...flags);
  install(o.upgradeKubectl === false ? ["kubelet"] : ["kubelet", "kubectl"]);
  asRoot("systemctl", "daemon-reload");
  asRoot("systemctl", "restart", "kubelet");
  calls.push(["kubelet", "--version"]);
  return calls;
}

/** The node's sources are left alone (the repository switch has its own tests). */
function render(o: NodeUpgradeScriptOptions): string {
  return renderNodeUpgradeScript({ packageRepository: false, ...o } as NodeUpgradeScriptOptions);
}

/** Every character validatePackageVersion allows after the leading digit. */
const PKG_CHARS = "0123456789AZaz.+~:_-".split("");
const FLAG_VALUE_CHARS = "AZaz09._,:=/-".split("");

const targetArb = fc
  .record({
    minor: fc.integer({ min: 35, max: 40 }),
    patch: fc.integer({ min: 0, max: 30 }),
    pre: fc.option(
      fc.tuple(fc.constantFrom("alpha", "beta", "rc"), fc.integer({ min: 0, max: 9 })),
      { nil: undefined },
    ),
    v: fc.boolean(),
  })
  .map(
    ({ minor, patch, pre, v }) =>
      `${v ? "v" : ""}1.${minor}.${patch}${pre ? `-${pre[0]}.${pre[1]}` : ""}`,
  );

const flagArb = fc
  .tuple(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
    fc.option(
      fc.string({ unit: fc.constantFrom(...FLAG_VALUE_CHARS), minLength: 1, maxLength: 20 }),
      {
        nil: undefined,
      },
    ),
  )
  .map(([name, value]) => (value === undefined ? `--${name}` : `--${name}=${value}`));

/** Valid settings for a target: every option at a generated value or left to its default. */
function settingsArb(target: string) {
  const semver = target.replace(/^v/, "");
  const pkgVersion = fc.oneof(
    fc.constant(undefined),
    fc.constant(semver),
    fc
      .tuple(
        fc.string({ unit: fc.constantFrom(...PKG_CHARS), maxLength: 64 - semver.length - 2 }),
        fc.boolean(),
      )
      .map(([rest, glob]) => `${semver}-${rest}${glob ? "*" : ""}`),
  );
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  return fc.record(
    {
      targetVersion: fc.constant(target),
      mode: fc.constantFrom("apply" as const, "node" as const),
      packageManager: opt(fc.constantFrom("apt" as const, "yum" as const, "dnf" as const)),
      packageVersion: pkgVersion,
      updatePackageIndex: opt(fc.boolean()),
      upgradeKubectl: opt(fc.boolean()),
      sudo: opt(fc.constantFrom("auto" as const, "always" as const, "never" as const)),
      kubeadmFlags: opt(fc.array(flagArb, { maxLength: 3 })),
    },
    { requiredKeys: ["targetVersion", "mode"] },
  );
}

/** The target as kubeadm prints it (always with "v"). */
const vText = (t: string) => (t.startsWith("v") ? t : `v${t}`);

/** For `numRuns` generated settings and uids: `check` on a fresh fake node upgrading to the target. */
function onFakeNodes(
  numRuns: number,
  check: (o: NodeUpgradeScriptOptions, target: string, uid: number, node: FakeNode) => void,
): void {
  fc.assert(
    fc.property(
      targetArb.chain((t) => settingsArb(t)),
      fc.constantFrom(0, 1000),
      (o, uid) => {
        const target = vText(o.targetVersion);
        const node = fakeNode(target, uid);
        try {
          check(o, target, uid, node);
        } finally {
          node.cleanup();
        }
      },
    ),
    { numRuns },
  );
}

describe("node upgrade script: generated valid settings on a fake node", () => {
  test("the recorded calls are the kubeadm upgrade procedure, each value one argv word; a re-run does nothing", () => {
    onFakeNodes(40, (o, target, uid, node) => {
      const first = node.run(render(o));
      expect({ status: first.status, stderr: first.stderr }).toEqual({
        status: 0,
        stderr: expect.stringContaining(`kube-upkeep: node upgraded to ${target}`),
      });
      expect(first.calls).toEqual(procedure(o, target, uid));
      // a node already at the target: the script looks and stops
      const again = node.run(render(o));
      expect(again.status).toBe(0);
      expect(again.stderr).toContain(`kubelet already at ${target}: nothing to do`);
      expect(again.calls).toEqual([["kubelet", "--version"]]);
    });
  });

  test("a re-run after the kubeadm package was upgraded continues at `kubeadm upgrade`", () => {
    onFakeNodes(30, (o, target, uid, node) => {
      node.set("kubeadm", target); // the interrupted run got this far
      const r = node.run(render(o));
      expect(r.status).toBe(0);
      expect(r.stderr).toContain(`kubeadm already at ${target}`);
      expect(r.calls).toEqual(procedure(o, target, uid, true));
    });
  });
});

describe("node upgrade script: arbitrary option values are rejected, or delivered unchanged", () => {
  const target = "v1.35.4";
  /** The value in the field, the rest valid; a value meant to be accepted starts like a valid one. */
  const renderField = (o: Record<string, string>): string => {
    const [field, value] = Object.entries(o)[0];
    const opts: NodeUpgradeScriptOptions =
      field === "kubeadmFlags[0]"
        ? { targetVersion: target, mode: "node", kubeadmFlags: [value] }
        : field === "targetVersion"
          ? { targetVersion: value, mode: "apply", packageVersion: undefined }
          : { targetVersion: target, mode: "node", [field]: value };
    return render(opts);
  };

  test("packageVersion, kubeadmFlags[0], targetVersion", () => {
    // half of the values start like valid ones, so that both outcomes are common
    const prefixed = (prefix: string) =>
      fc.oneof(
        nasty,
        nasty.map((s) => prefix + s),
      );
    const cases: [string, fc.Arbitrary<string>][] = [
      ["packageVersion", prefixed("1.35.4-")],
      ["kubeadmFlags[0]", prefixed("--flag=")],
      [
        "targetVersion",
        fc.oneof(
          nasty,
          fc.tuple(fc.nat(30), nasty).map(([p, rest]) => `v1.35.${p}${rest}`),
        ),
      ],
    ];
    for (const [field, values] of cases) {
      const accepted = new Set<string>();
      expectRejectedOrDelivered(
        [field],
        renderField,
        (_f, value, script) => {
          accepted.add(value);
          // a target is canonical in the script: trimmed, with "v" (what kubeadm prints)
          const t = field === "targetVersion" ? vText(value.trim()) : target;
          const node = fakeNode(t, 0);
          try {
            const r = node.run(script);
            expect(r.status).toBe(0);
            const words = r.calls.flat();
            if (field === "packageVersion") {
              expect(words).toContain(`kubeadm=${value}`);
              expect(words).toContain(`kubelet=${value}`);
            } else if (field === "kubeadmFlags[0]") {
              expect(r.calls).toContainEqual(["kubeadm", "upgrade", "node", value]);
            } else {
              expect(r.calls).toContainEqual(["kubeadm", "upgrade", "apply", t, "-y"]);
            }
          } finally {
            node.cleanup();
          }
        },
        400,
        values,
      );
      // the property saw both outcomes
      expect({ field, accepted: accepted.size > 0 }).toEqual({ field, accepted: true });
    }
  });
});
