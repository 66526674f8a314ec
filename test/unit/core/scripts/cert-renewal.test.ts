import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  CHECK_EXPIRATION_JSONPATH,
  KUBEADM_HEALTH_CHECKS,
  renderCertRenewalScript,
  resolveCertRenewalOptions,
  type CertRenewalScriptOptions,
} from "../../../../lib/core/scripts/cert-renewal";
import { busyboxBin, makeStubs, runScript, shellcheck, type StubEnv } from "./stubs";
import { expectRejected } from "./validation";

// Each test spawns shells and stubs; on a busy 2-core machine that takes seconds.
jest.setTimeout(60_000);

const DAY = 86400;
const MANIFESTS = [
  "etcd.yaml",
  "kube-apiserver.yaml",
  "kube-controller-manager.yaml",
  "kube-scheduler.yaml",
];

interface Fixture {
  s: StubEnv;
  root: string;
  opts: CertRenewalScriptOptions;
  certsFile: string;
  manifests: string;
  stash: string;
}

/**
 * A fake control-plane root: etc/kubernetes/{manifests,pki,tmp} in a temp dir, the certificate
 * table for the fake kubeadm, options mapping every path into it.
 */
function fixture(certs: string, extra: CertRenewalScriptOptions = {}): Fixture {
  const s = makeStubs();
  const root = path.join(s.dir, "root");
  const manifests = path.join(root, "etc/kubernetes/manifests");
  const stash = path.join(root, "etc/kubernetes/tmp");
  fs.mkdirSync(manifests, { recursive: true });
  fs.mkdirSync(path.join(root, "etc/kubernetes/pki"), { recursive: true });
  for (const m of MANIFESTS) fs.writeFileSync(path.join(manifests, m), `# ${m}\n`);
  const certsFile = path.join(s.dir, "certs.txt");
  fs.writeFileSync(certsFile, certs);
  s.env.STUB_CERTS = certsFile;
  s.env.STUB_MANIFESTS = manifests;
  const opts: CertRenewalScriptOptions = {
    certDir: path.join(root, "etc/kubernetes/pki"),
    kubeconfig: path.join(root, "etc/kubernetes/admin.conf"),
    manifestsDir: manifests,
    stashDir: stash,
    restartWaitSeconds: 25,
    // no control plane runs here: the health wait has its own tests below (a stub curl)
    healthChecks: [],
    ...extra,
  };
  return { s, root, opts, certsFile, manifests, stash };
}

const line = (name: string, days: number, ext = false, missing = false) =>
  `${name} ${Math.round(days * DAY)} ${ext} ${missing}\n`;

const TYPICAL =
  line("admin.conf", 5) +
  line("apiserver", 10) +
  line("apiserver-etcd-client", 200) +
  line("apiserver-kubelet-client", 200) +
  line("controller-manager.conf", 200) +
  line("etcd-healthcheck-client", 200) +
  line("etcd-peer", 0, false, true) +
  line("etcd-server", 29.9) +
  line("front-proxy-client", 31) +
  line("scheduler.conf", 200) +
  line("super-admin.conf", 200);

function kubeadmCalls(f: Fixture): string[][] {
  return f.s.calls().filter((c) => c[0] === "kubeadm");
}

/** The calls as short strings: "kubeadm certs renew apiserver", "sleep 25", "manifests: ..." */
function sequence(f: Fixture): string[] {
  return f.s.lines().map((l) => {
    const argv = l.split("\t");
    if (argv[0] === "kubeadm")
      return argv
        .slice(0, 4)
        .join(" ")
        .replace(/ --.*$/, "");
    return argv.join(" ").trim();
  });
}

const flags = (f: Fixture) => [`--cert-dir=${f.opts.certDir}`, `--kubeconfig=${f.opts.kubeconfig}`];

describe("certificate renewal script: rendering", () => {
  test("defaults", () => {
    expect(resolveCertRenewalOptions()).toEqual({
      renewBeforeDays: 30,
      certificates: [],
      renewAll: false,
      dryRun: false,
      kubeadm: "kubeadm",
      rootfs: undefined,
      certDir: "/etc/kubernetes/pki",
      kubeconfig: "/etc/kubernetes/admin.conf",
      config: undefined,
      manifestsDir: "/etc/kubernetes/manifests",
      stashDir: "/etc/kubernetes/tmp",
      restartWaitSeconds: 30,
      healthChecks: KUBEADM_HEALTH_CHECKS,
      healthTimeoutSeconds: 300,
    });
    expect(KUBEADM_HEALTH_CHECKS.map((c) => c.name)).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
    ]);
  });

  test("the check uses kubeadm's jsonpath output over .certificates[]", () => {
    const script = renderCertRenewalScript({ config: "/etc/kubernetes/kubeadm.yaml" });
    expect(CHECK_EXPIRATION_JSONPATH).toBe(
      '{range .certificates[*]}{.name}{" "}{.residualTime}{" "}{.externallyManaged}{" "}{.missing}{"\\n"}{end}',
    );
    expect(script).toContain(
      `kubeadm_run certs check-expiration --cert-dir=/etc/kubernetes/pki --kubeconfig=/etc/kubernetes/admin.conf --config=/etc/kubernetes/kubeadm.yaml -o 'jsonpath=${CHECK_EXPIRATION_JSONPATH}' 2>&1`,
    );
    expect(script).toContain('kubeadm_run() { kubeadm "$@"; }');
  });

  test("with rootfs every kubeadm call goes through chroot and manifests paths are under it", () => {
    const script = renderCertRenewalScript({ rootfs: "/host", kubeadm: "/usr/bin/kubeadm" });
    expect(script).toContain('kubeadm_run() { chroot /host /usr/bin/kubeadm "$@"; }');
    expect(script).toContain("manifests_dir=/host/etc/kubernetes/manifests");
    expect(script).toContain("stash_parent=/host/etc/kubernetes/tmp");
    expect(script).toContain("--cert-dir=/etc/kubernetes/pki");
  });

  test.each([
    [{}],
    [{ rootfs: "/host", kubeadm: "/usr/bin/kubeadm" }],
    [{ dryRun: true, certificates: ["apiserver", "admin.conf"] }],
    [{ renewAll: true, config: "/etc/kubernetes/kubeadm-config.yaml", renewBeforeDays: 365 }],
  ] as [CertRenewalScriptOptions][])("shellcheck passes (%j)", (opts) => {
    shellcheck(renderCertRenewalScript(opts));
  });
});

describe("certificate renewal script: validation", () => {
  const bad: [string, CertRenewalScriptOptions, RegExp][] = [
    [
      "renewBeforeDays 0",
      { renewBeforeDays: 0 },
      /invalid renewBeforeDays 0: must be an integer from 1 to 365/,
    ],
    ["renewBeforeDays 366", { renewBeforeDays: 366 }, /invalid renewBeforeDays 366/],
    ["renewBeforeDays fractional", { renewBeforeDays: 7.5 }, /invalid renewBeforeDays 7.5/],
    [
      "unknown certificate",
      { certificates: ["apiserver", "kubelet" as never] },
      /invalid certificates "kubelet": not a certificate kubeadm certs renew knows. Fix: use one of admin.conf, apiserver/,
    ],
    ["empty certificate list", { certificates: [] }, /invalid certificates \[\]: empty list/],
    ["relative certDir", { certDir: "pki" }, /invalid certDir "pki": path is relative/],
    [
      "non-normalized manifestsDir",
      { manifestsDir: "/etc/kubernetes//manifests" },
      /invalid manifestsDir .*not normalized/,
    ],
    [
      "metacharacters in kubeconfig",
      { kubeconfig: "/etc/kubernetes/admin.conf;rm -rf /" },
      /invalid kubeconfig .*must not reach a shell/,
    ],
    ["backtick in config", { config: "/etc/`id`" }, /invalid config/],
    ["kubeadm with arguments", { kubeadm: "kubeadm --v=5" }, /invalid kubeadm/],
    ["relative rootfs", { rootfs: "host" }, /invalid rootfs "host": path is relative/],
    [
      "stash inside manifests",
      { stashDir: "/etc/kubernetes/manifests/old" },
      /invalid stashDir .*inside manifestsDir/,
    ],
    ["negative wait", { restartWaitSeconds: -1 }, /invalid restartWaitSeconds -1/],
    ["dryRun as string", { dryRun: "yes" as never }, /invalid dryRun "yes": not a boolean/],
  ];
  test.each(bad)("%s is rejected with path, field, value and fix", (_n, opts, re) => {
    expectRejected(() => renderCertRenewalScript(opts, "chart/renewal"), "chart/renewal", re);
  });
});

describe("certificate renewal script: runs under a stub kubeadm", () => {
  let f: Fixture;
  afterEach(() => f.s.cleanup());

  test("renews only the certificates within the threshold, restarts static pods, checks again", () => {
    f = fixture(TYPICAL);
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.stderr).toContain("cert-renewal: done");
    expect(r.status).toBe(0);
    expect(sequence(f)).toEqual([
      "kubeadm certs check-expiration",
      "kubeadm certs renew admin.conf",
      "kubeadm certs renew apiserver",
      "kubeadm certs renew etcd-server",
      "sleep 25",
      "manifests:",
      "kubeadm certs check-expiration",
    ]);
    const calls = kubeadmCalls(f);
    expect(calls[0]).toEqual([
      "kubeadm",
      "certs",
      "check-expiration",
      ...flags(f),
      "-o",
      `jsonpath=${CHECK_EXPIRATION_JSONPATH}`,
    ]);
    expect(calls[1]).toEqual(["kubeadm", "certs", "renew", "admin.conf", ...flags(f)]);
    // manifests are back, the stash is gone
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
    expect(fs.readdirSync(f.stash)).toEqual([]);
    expect(r.stderr).toContain("admin.conf: 5 days left, within 30: renew");
    expect(r.stderr).toContain("front-proxy-client: 31 days left");
    expect(r.stderr).toContain("etcd-peer: missing");
    expect(r.stderr).toMatch(
      /moved 4 static pod manifests to .*kube-upkeep-manifests\.\w+; waiting 25s/,
    );
    // the certificate table now shows a year for the renewed ones only
    const table = fs.readFileSync(f.certsFile, "utf8");
    expect(table).toContain("apiserver 31535999 false false");
    expect(table).toContain(`front-proxy-client ${31 * DAY} false false`);
  });

  // busybox sh runs its own applets (sleep, chroot, ...) even when PATH has a stub of the same
  // name, so these runs use a real 1 s wait and check only kubeadm's calls.
  test.each([
    ["/bin/sh (dash) and GNU tools", false],
    ["busybox sh and busybox tools, as in the CronJob's image", true],
  ])("runs the same under %s", (_name, busybox) => {
    f = fixture(TYPICAL, { restartWaitSeconds: 1 });
    if (busybox) f.s.env.PATH = `${f.s.bin}:${busyboxBin(f.s.dir)}`;
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env, "-c", "sh");
    expect(r.stderr).toContain("cert-renewal: done");
    expect(r.status).toBe(0);
    expect(sequence(f).filter((c) => c.startsWith("kubeadm"))).toEqual([
      "kubeadm certs check-expiration",
      "kubeadm certs renew admin.conf",
      "kubeadm certs renew apiserver",
      "kubeadm certs renew etcd-server",
      "kubeadm certs check-expiration",
    ]);
    expect(r.stderr).toMatch(/moved 4 static pod manifests to .*; waiting 1s/);
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
    expect(fs.readdirSync(f.stash)).toEqual([]);
  });

  test("busybox sh: SIGTERM from outside during the wait (as the kubelet sends it) puts the manifests back", async () => {
    f = fixture(TYPICAL, { restartWaitSeconds: 3 });
    f.s.env.PATH = `${f.s.bin}:${busyboxBin(f.s.dir)}`;
    const child = spawn("sh", ["-c", renderCertRenewalScript(f.opts)], { env: f.s.env });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => resolve(code)),
    );
    // wait until the manifests are in the stash, then TERM the shell
    const deadline = Date.now() + 45_000;
    while (fs.readdirSync(f.manifests).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(fs.readdirSync(f.manifests)).toEqual([]);
    child.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(stderr).toContain("moved the static pod manifests back");
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
    expect(fs.readdirSync(f.stash)).toEqual([]);
  });

  test("during the wait the manifests are out of the manifests dir (in the stash on the host)", () => {
    f = fixture(line("apiserver", 1));
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    const during = f.s.lines().find((l) => l.startsWith("manifests:"));
    expect(during).toBe("manifests:"); // empty while sleeping
  });

  test("dry run reports and changes nothing", () => {
    f = fixture(TYPICAL, { dryRun: true });
    const before = fs.readFileSync(f.certsFile, "utf8");
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    expect(sequence(f)).toEqual(["kubeadm certs check-expiration"]);
    expect(r.stderr).toContain("dry run: would renew: admin.conf apiserver etcd-server");
    expect(r.stderr).toContain("dry run: would then restart the static pods");
    expect(fs.readFileSync(f.certsFile, "utf8")).toBe(before);
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
    expect(fs.existsSync(f.stash)).toBe(false);
  });

  test("nothing due: no renewal, no restart", () => {
    f = fixture(line("apiserver", 100) + line("admin.conf", 31));
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    expect(sequence(f)).toEqual(["kubeadm certs check-expiration"]);
    expect(r.stderr).toContain("nothing to renew");
  });

  test("renewBeforeDays moves the threshold", () => {
    f = fixture(TYPICAL, { renewBeforeDays: 7 });
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    expect(sequence(f).filter((c) => c.includes("renew"))).toEqual([
      "kubeadm certs renew admin.conf",
    ]);
  });

  test("certificates limits which ones are considered", () => {
    f = fixture(TYPICAL, { certificates: ["apiserver", "front-proxy-client"] });
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    expect(sequence(f).filter((c) => c.includes("renew"))).toEqual([
      "kubeadm certs renew apiserver",
    ]);
    expect(r.stderr).toContain("admin.conf: 5 days left (not selected)");
  });

  test("renewAll runs kubeadm certs renew all once", () => {
    f = fixture(TYPICAL, { renewAll: true });
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    expect(sequence(f).filter((c) => c.includes("renew"))).toEqual(["kubeadm certs renew all"]);
  });

  test("--config is passed to every kubeadm call", () => {
    f = fixture(line("apiserver", 1), { config: "/etc/kubernetes/kubeadm.yaml" });
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    for (const c of kubeadmCalls(f)) expect(c).toContain("--config=/etc/kubernetes/kubeadm.yaml");
  });

  test("a kubeadm renew failure fails the job with kubeadm's message and restarts nothing", () => {
    f = fixture(TYPICAL);
    const r = runScript(renderCertRenewalScript(f.opts), {
      ...f.s.env,
      STUB_KUBEADM_FAIL: "renew",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "ERROR: kubeadm certs renew admin.conf failed: error: failed to renew certificate admin.conf: unable to sign: ca.key: no such file (fake kubeadm)",
    );
    expect(sequence(f)).toEqual([
      "kubeadm certs check-expiration",
      "kubeadm certs renew admin.conf",
    ]);
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
  });

  test("a kubeadm check-expiration failure fails the job with kubeadm's message", () => {
    f = fixture(TYPICAL);
    const r = runScript(renderCertRenewalScript(f.opts), {
      ...f.s.env,
      STUB_KUBEADM_FAIL: "check",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /ERROR: kubeadm certs check-expiration failed: error: failed to load admin kubeconfig: .*permission denied \(fake kubeadm\)/,
    );
  });

  test("still within the threshold after renewal: fails loudly, manifests restored", () => {
    f = fixture(TYPICAL);
    const r = runScript(renderCertRenewalScript(f.opts), { ...f.s.env, STUB_RENEW_NOOP: "1" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "ERROR: still expiring within 30 days after renewal: admin.conf apiserver etcd-server",
    );
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
  });

  test("externally managed certificates are never renewed; a due one fails the job", () => {
    f = fixture(line("apiserver", 100) + line("front-proxy-client", 3, true));
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(1);
    expect(sequence(f)).toEqual(["kubeadm certs check-expiration"]);
    expect(r.stderr).toContain(
      "ERROR: externally managed certificates expire within 30 days: front-proxy-client",
    );
  });

  test("residual time printed in exponent form (kubeadm's jsonpath float64) is understood", () => {
    f = fixture("apiserver 3.1535999e+07 false false\nadmin.conf 8.64e+05 false false\n");
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(0);
    expect(sequence(f).filter((c) => c.includes("renew"))).toEqual([
      "kubeadm certs renew admin.conf",
    ]);
    expect(r.stderr).toContain("apiserver: 364 days left");
  });

  test("no certificates reported at all is an error, not a silent success", () => {
    f = fixture("");
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("ERROR: kubeadm certs check-expiration reported no certificates");
  });

  test("manifests left by an interrupted run stop the job before anything moves", () => {
    f = fixture(TYPICAL);
    const left = path.join(f.stash, "kube-upkeep-manifests.abc123");
    fs.mkdirSync(left, { recursive: true });
    fs.writeFileSync(path.join(left, "kube-apiserver.yaml"), "old");
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ERROR: ${left} holds manifests from an interrupted run`);
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
  });

  test("an empty manifests dir is an error (not a control-plane node)", () => {
    f = fixture(TYPICAL);
    for (const m of MANIFESTS) fs.rmSync(path.join(f.manifests, m));
    const r = runScript(renderCertRenewalScript(f.opts), f.s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no static pod manifests in");
  });

  test("SIGTERM during the wait (activeDeadlineSeconds) puts the manifests back", () => {
    f = fixture(TYPICAL);
    const r = runScript(renderCertRenewalScript(f.opts), { ...f.s.env, STUB_SLEEP_TERM: "1" });
    expect(r.status).toBe(143);
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
    expect(fs.readdirSync(f.stash)).toEqual([]);
    expect(r.stderr).toContain("moved the static pod manifests back");
  });

  test("with rootfs: kubeadm runs through chroot <rootfs> <kubeadm>, manifests under rootfs", () => {
    f = fixture(TYPICAL);
    // the host's kubeadm lives in the root: <root>/usr/bin/kubeadm
    fs.mkdirSync(path.join(f.root, "usr/bin"), { recursive: true });
    fs.copyFileSync(path.join(f.s.bin, "kubeadm"), path.join(f.root, "usr/bin/kubeadm"));
    fs.chmodSync(path.join(f.root, "usr/bin/kubeadm"), 0o755);
    const opts: CertRenewalScriptOptions = {
      rootfs: f.root,
      kubeadm: "/usr/bin/kubeadm",
      restartWaitSeconds: 21,
      healthChecks: [],
    };
    const r = runScript(renderCertRenewalScript(opts), f.s.env);
    expect(r.stderr).toContain("done");
    expect(r.status).toBe(0);
    const chroots = f.s.calls().filter((c) => c[0] === "chroot");
    expect(chroots).toHaveLength(5); // check, 3 renewals, check
    expect(chroots[1]).toEqual([
      "chroot",
      f.root,
      "/usr/bin/kubeadm",
      "certs",
      "renew",
      "admin.conf",
      "--cert-dir=/etc/kubernetes/pki",
      "--kubeconfig=/etc/kubernetes/admin.conf",
    ]);
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
    expect(f.s.lines()).toContain("sleep\t21");
  });
});

/** A fake curl: records its argv; fails for URLs containing $STUB_CURL_DOWN, and its first $STUB_CURL_FAILS calls. */
const CURL = `#!/bin/sh
{ printf 'curl'; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> "$STUB_LOG"
for a in "$@"; do url="$a"; done
n=$(cat "$STUB_LOG.curl" 2>/dev/null || echo 0); echo $((n + 1)) > "$STUB_LOG.curl"
if [ -n "\${STUB_CURL_DOWN:-}" ]; then case "$url" in *"$STUB_CURL_DOWN"*) echo "curl: (7) Failed to connect" >&2; exit 7;; esac; fi
if [ "$n" -lt "\${STUB_CURL_FAILS:-0}" ]; then echo "curl: (22) The requested URL returned error: 500" >&2; exit 22; fi
exit 0
`;

describe("certificate renewal script: waits for the control plane after the restart", () => {
  let f: Fixture;
  afterEach(() => f.s.cleanup());
  const checks = [
    { name: "etcd", url: "http://127.0.0.1:2381/readyz" },
    { name: "kube-apiserver", url: "https://127.0.0.1:6443/readyz?verbose" },
  ];
  const withCurl = (extra: CertRenewalScriptOptions) => {
    f = fixture(line("apiserver", 1), { healthChecks: checks, ...extra });
    fs.writeFileSync(path.join(f.s.bin, "curl"), CURL, { mode: 0o755 });
  };

  test("each endpoint in order after the manifests are back, retrying until it answers, then checks again", () => {
    withCurl({});
    // the first 2 probes fail (the apiserver still starting), then all answer
    const r = runScript(renderCertRenewalScript(f.opts), { ...f.s.env, STUB_CURL_FAILS: "2" });
    expect(r.stderr).toContain("cert-renewal: done");
    expect(r.status).toBe(0);
    // the stub sleep logs the manifests dir after each sleep: empty after the restart wait,
    // full after each 2 s retry pause (the manifests are back before the first probe)
    const seq = sequence(f).filter((c) => c !== "sleep 2" && !c.startsWith("manifests:etcd"));
    expect(seq).toEqual([
      "kubeadm certs check-expiration",
      "kubeadm certs renew apiserver",
      "sleep 25",
      "manifests:",
      "curl -fsSk --max-time 5 -o /dev/null http://127.0.0.1:2381/readyz",
      "curl -fsSk --max-time 5 -o /dev/null http://127.0.0.1:2381/readyz",
      "curl -fsSk --max-time 5 -o /dev/null http://127.0.0.1:2381/readyz",
      "curl -fsSk --max-time 5 -o /dev/null https://127.0.0.1:6443/readyz?verbose",
      "kubeadm certs check-expiration",
    ]);
    expect(r.stderr).toContain("health probes with curl");
    expect(r.stderr).toMatch(/etcd healthy \(http:\/\/127\.0\.0\.1:2381\/readyz\), \d+s after/);
    expect(r.stderr).toMatch(/kube-apiserver healthy/);
  });

  test("an endpoint that never answers fails the job within healthTimeoutSeconds, naming it; manifests stay back", () => {
    withCurl({ healthTimeoutSeconds: 1 });
    const r = runScript(renderCertRenewalScript(f.opts), { ...f.s.env, STUB_CURL_DOWN: "6443" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "ERROR: kube-apiserver did not answer https://127.0.0.1:6443/readyz?verbose within 1s after the static pods were restarted: curl: (7) Failed to connect",
    );
    expect(r.stderr).not.toContain("checking certificate expiration again");
    expect(fs.readdirSync(f.manifests).sort()).toEqual(MANIFESTS);
  });

  test("no probe tool: fails before renewing anything", () => {
    f = fixture(line("apiserver", 1), { healthChecks: checks });
    // only the stubs and a shell's basics: no curl, no wget
    const only = path.join(f.s.dir, "only");
    fs.mkdirSync(only);
    for (const t of [
      "bash",
      "sh",
      "awk",
      "basename",
      "date",
      "mktemp",
      "mv",
      "rmdir",
      "tr",
      "cat",
      "printf",
    ]) {
      const real = ["/usr/bin", "/bin"].map((d) => path.join(d, t)).find((p) => fs.existsSync(p));
      if (real) fs.symlinkSync(real, path.join(only, t));
    }
    const r = runScript(renderCertRenewalScript(f.opts), {
      ...f.s.env,
      PATH: `${f.s.bin}:${only}`,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("ERROR: neither curl nor wget here");
    expect(sequence(f)).toEqual(["kubeadm certs check-expiration"]);
  });

  test("dry run and nothing due do not probe", () => {
    withCurl({ dryRun: true });
    expect(runScript(renderCertRenewalScript(f.opts), f.s.env).status).toBe(0);
    expect(sequence(f).filter((c) => c.startsWith("curl"))).toEqual([]);
  });

  test.each([
    [[{ name: "Kube", url: "https://127.0.0.1:6443/readyz" }], /healthChecks\[0\]\.name/],
    [[{ name: "a", url: "https://127.0.0.1:6443/readyz;reboot" }], /healthChecks\[0\]\.url/],
    [[{ name: "a", url: "https://u:p@127.0.0.1:6443/readyz" }], /healthChecks\[0\]\.url/],
    [[{ name: "a", url: "https://127.0.0.1:6443" }], /healthChecks\[0\]\.url/],
    [
      [
        { name: "a", url: "https://127.0.0.1:6443/readyz" },
        { name: "a", url: "https://127.0.0.1:6443/livez" },
      ],
      /healthChecks\[1\]\.name .*listed twice/,
    ],
  ])("invalid healthChecks %j is rejected", (healthChecks, re) => {
    expectRejected(
      () => renderCertRenewalScript({ healthChecks }, "chart/renewal"),
      "chart/renewal",
      re,
    );
  });

  test("shellcheck with the default health checks", () => {
    shellcheck(renderCertRenewalScript({ rootfs: "/host" }));
  });
});
