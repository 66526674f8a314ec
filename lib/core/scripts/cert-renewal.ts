/**
 * kubeadm certificate renewal, rendered from typed options.
 *
 * The script:
 *  1. runs `kubeadm certs check-expiration` and reads each certificate's name, residual time
 *     (seconds), externallyManaged and missing fields;
 *  2. renews, with `kubeadm certs renew <name>` (or `all` when asked), only the certificates
 *     that expire within `renewBeforeDays`; externally managed ones are reported, never renewed;
 *  3. restarts the control-plane static pods the documented way: moves every manifest out of
 *     the manifests directory into a stash directory next to it (on the same host filesystem,
 *     so an interrupted run leaves them where an operator finds them), waits longer than the
 *     kubelet's 20 s fileCheckFrequency, moves them back (also on error or SIGTERM);
 *  4. waits until the restarted control plane answers its health endpoints again (etcd,
 *     kube-apiserver, kube-controller-manager, kube-scheduler, in that order; `healthChecks`),
 *     and exits 1 naming the one that did not within `healthTimeoutSeconds`;
 *  5. checks again and exits 1, naming them, if any certificate is still within the threshold.
 * A kubeadm failure exits 1 with kubeadm's own output in the error line. Dry-run mode stops
 * after step 1's report.
 *
 * The health probes use curl when the container has it, else the host's curl (`chroot <rootfs>
 * curl`: kubeadm's install guide installs curl on every node), else wget. busybox 1.35's own
 * TLS (its wget without an openssl binary) sends no signature_algorithms extension, which Go
 * servers built with recent Go (the control plane) refuse in the TLS 1.2 handshake, so wget
 * is the last choice. The probes skip certificate verification (`-k`): the controller-manager
 * and scheduler serve self-signed certificates on kubeadm clusters, and only the answer
 * counts, not who signed it.
 *
 * Parsing without jq: the check runs with `-o jsonpath=...` (kubeadm's output flags accept
 * json, yaml, jsonpath and go-template since check-expiration gained structured output in
 * 1.30), printing one `name residualTime externallyManaged missing` line per certificate of
 * the v1alpha3 `CertificateExpirationInfo` (`.certificates[]`). awk reads those lines; awk
 * also accepts residualTime printed in exponent form (kubeadm's jsonpath printer round-trips
 * numbers through float64, e.g. 3.1535999e+07). Needs only sh, awk, mv, mktemp, sleep, find
 * (busybox has them all).
 *
 * Where kubeadm runs: with `rootfs` set (the CronJob sets "/host", where the host's / is
 * mounted) every kubeadm call is `chroot <rootfs> <kubeadm> ...`, i.e. the host's own kubeadm
 * with the host's paths. Why chroot and not a kubeadm shipped in an image: the host's kubeadm
 * is the version the cluster was installed and upgraded with (no image to keep in step), and
 * kubeadm always reads and renews the kubeconfig files (admin.conf, controller-manager.conf,
 * scheduler.conf, super-admin.conf) under the fixed /etc/kubernetes — `certs renew` has no
 * flag to move that — so only a chroot (or running on the host) gives it the host's files.
 * Without `rootfs` the script runs kubeadm found on PATH (or at the given path) directly,
 * which is how it runs on a host by hand and in tests.
 */
import { ProblemCollector, ValidationError } from "../errors";
import { isDnsLabel } from "../names";
import {
  PORTABLE_STRICT,
  shArg,
  validateAbsolutePath,
  validateCommand,
  validateInteger,
} from "./shell";
import { renderStaticPodManifestSteps, validateStashDir } from "./static-pod-manifests";

/** The certificates `kubeadm certs renew` knows (kubeadm 1.30 - 1.35), as check-expiration names them. */
export const KUBEADM_CERTIFICATES = [
  "admin.conf",
  "apiserver",
  "apiserver-etcd-client",
  "apiserver-kubelet-client",
  "controller-manager.conf",
  "etcd-healthcheck-client",
  "etcd-peer",
  "etcd-server",
  "front-proxy-client",
  "scheduler.conf",
  "super-admin.conf",
] as const;

/** A certificate name as `kubeadm certs renew` accepts it. */
export type KubeadmCertificate = (typeof KUBEADM_CERTIFICATES)[number];

/** A control-plane component's health endpoint, probed after the static pods restarted. */
export interface ControlPlaneHealthCheck {
  /** The component, for the log and error messages (lower-case letters, digits, '-'). */
  readonly name: string;
  /**
   * `http(s)://host:port/path[?query]` that answers 2xx when the component is healthy, as the
   * node reaches it (the CronJob's pod uses the host network).
   */
  readonly url: string;
}

/**
 * kubeadm's control plane as its static pod manifests probe it (etcd's metrics listener
 * `--listen-metrics-urls=http://127.0.0.1:2381`, the API server on 6443, the controller-manager
 * and scheduler on their secure ports bound to 127.0.0.1), in the order they come up.
 */
export const KUBEADM_HEALTH_CHECKS: readonly ControlPlaneHealthCheck[] = [
  { name: "etcd", url: "http://127.0.0.1:2381/readyz" },
  { name: "kube-apiserver", url: "https://127.0.0.1:6443/readyz" },
  { name: "kube-controller-manager", url: "https://127.0.0.1:10257/healthz" },
  { name: "kube-scheduler", url: "https://127.0.0.1:10259/readyz" },
];

/** Options of the certificate renewal script. Paths must be absolute and normalized. */
export interface CertRenewalScriptOptions {
  /**
   * Renew a certificate when it expires within this many days (1..365). Keep it below the
   * certificate validity (kubeadm issues 365-day certificates): with 365 a freshly renewed
   * certificate is still "within the threshold" and the final check fails.
   *
   * @default 30
   */
  readonly renewBeforeDays?: number;
  /**
   * Which certificates to consider (names as `kubeadm certs check-expiration` prints them).
   *
   * @default - every certificate kubeadm reports
   */
  readonly certificates?: readonly KubeadmCertificate[];
  /**
   * When any considered certificate is due, run `kubeadm certs renew all` instead of renewing
   * only the due ones (keeps every certificate on the same expiry date).
   *
   * @default false
   */
  readonly renewAll?: boolean;
  /**
   * Only report what would be renewed; renew nothing, restart nothing.
   *
   * @default false
   */
  readonly dryRun?: boolean;
  /**
   * kubeadm: a name looked up on PATH or an absolute path (inside `rootfs` when that is set).
   *
   * @default "kubeadm"
   */
  readonly kubeadm?: string;
  /**
   * Host root to chroot into for every kubeadm call; file operations on the manifests use
   * `<rootfs><manifestsDir>`. The CronJob mounts the host's / at /host and sets "/host".
   *
   * @default - no chroot: run kubeadm directly
   */
  readonly rootfs?: string;
  /**
   * `--cert-dir` for kubeadm (as kubeadm sees it, i.e. inside `rootfs`).
   *
   * @default "/etc/kubernetes/pki" (kubeadm's default; passed explicitly so the script never
   * depends on what the kubeadm-config ConfigMap says)
   */
  readonly certDir?: string;
  /**
   * `--kubeconfig` for kubeadm: the admin kubeconfig kubeadm uses to read the kubeadm-config
   * ConfigMap (it falls back to defaults when the API server is unreachable).
   *
   * @default "/etc/kubernetes/admin.conf"
   */
  readonly kubeconfig?: string;
  /**
   * `--config` for kubeadm: a kubeadm configuration file to use instead of the cluster's.
   *
   * @default - not passed
   */
  readonly config?: string;
  /**
   * The kubelet's static pod manifests directory (staticPodPath).
   *
   * @default "/etc/kubernetes/manifests"
   */
  readonly manifestsDir?: string;
  /**
   * Where the manifests wait during the restart: a `kube-upkeep-manifests.XXXXXX` directory
   * is created inside it. Must be on the host, outside `manifestsDir`.
   *
   * @default "/etc/kubernetes/tmp" (kubeadm keeps its own upgrade backups there)
   */
  readonly stashDir?: string;
  /**
   * Seconds to wait between moving the manifests out and back. The kubelet looks at the
   * directory every 20 s (fileCheckFrequency), so anything above 20 lets it see the removal.
   * Lower values only make sense in tests.
   *
   * @default 30
   */
  readonly restartWaitSeconds?: number;
  /**
   * The endpoints that must answer 2xx, each in turn, after the manifests are back, before the
   * script checks the certificates again and reports success. An empty list does not wait (the
   * job then reports success while the control plane may still be starting).
   *
   * @default KUBEADM_HEALTH_CHECKS (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
   */
  readonly healthChecks?: readonly ControlPlaneHealthCheck[];
  /**
   * Seconds, from the moment the manifests are back, within which every health check must
   * pass (1..3600).
   *
   * @default 300
   */
  readonly healthTimeoutSeconds?: number;
}

/** Options with every default filled in, validated. */
export interface ResolvedCertRenewalOptions {
  readonly renewBeforeDays: number;
  readonly certificates: readonly KubeadmCertificate[];
  readonly renewAll: boolean;
  readonly dryRun: boolean;
  readonly kubeadm: string;
  readonly rootfs?: string;
  readonly certDir: string;
  readonly kubeconfig: string;
  readonly config?: string;
  readonly manifestsDir: string;
  readonly stashDir: string;
  readonly restartWaitSeconds: number;
  readonly healthChecks: readonly ControlPlaneHealthCheck[];
  readonly healthTimeoutSeconds: number;
}

export const CERT_RENEWAL_DEFAULTS = {
  renewBeforeDays: 30,
  kubeadm: "kubeadm",
  certDir: "/etc/kubernetes/pki",
  kubeconfig: "/etc/kubernetes/admin.conf",
  manifestsDir: "/etc/kubernetes/manifests",
  stashDir: "/etc/kubernetes/tmp",
  restartWaitSeconds: 30,
  healthTimeoutSeconds: 300,
} as const;

/**
 * The jsonpath kubeadm prints the certificates with: one line per certificate,
 * `name residualTime externallyManaged missing`.
 */
export const CHECK_EXPIRATION_JSONPATH =
  '{range .certificates[*]}{.name}{" "}{.residualTime}{" "}{.externallyManaged}{" "}{.missing}{"\\n"}{end}';

function bool(where: string, field: string, value: unknown, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== "boolean")
    throw new ValidationError(where, field, value, "not a boolean", "give true or false");
  return value;
}

/** An http(s) URL with a path and an optional query: nothing a shell or curl would read twice. */
const HEALTH_URL =
  /^https?:\/\/[A-Za-z0-9.\-[\]:]+(:\d{1,5})?\/[A-Za-z0-9._~/-]*(\?[A-Za-z0-9._~=&,-]*)?$/;

function isHealthUrl(url: unknown): boolean {
  if (typeof url !== "string" || !HEALTH_URL.test(url)) return false;
  try {
    const u = new URL(url);
    return !u.username && !u.password;
  } catch {
    return false;
  }
}

/** Every check's problems at once (one as itself, several as ValidationErrors). */
function validateHealthChecks(
  where: string,
  value: readonly ControlPlaneHealthCheck[] | undefined,
): readonly ControlPlaneHealthCheck[] {
  if (value === undefined) return KUBEADM_HEALTH_CHECKS;
  if (!Array.isArray(value))
    throw new ValidationError(
      where,
      "healthChecks",
      value,
      "not a list",
      'give a list such as [{ name: "kube-apiserver", url: "https://127.0.0.1:6443/readyz" }], or [] to not wait',
    );
  const problems = new ProblemCollector();
  const seen = new Set<string>();
  const checks = value.map((c: ControlPlaneHealthCheck, i) => {
    const name = c?.name;
    if (!isDnsLabel(name))
      problems.add(
        new ValidationError(
          where,
          `healthChecks[${i}].name`,
          name,
          "not a component name",
          "use lower-case letters, digits and '-', such as kube-apiserver",
        ),
      );
    else if (seen.has(name))
      problems.add(
        new ValidationError(
          where,
          `healthChecks[${i}].name`,
          name,
          "listed twice",
          "list each component once",
        ),
      );
    else seen.add(name);
    const url = c?.url;
    if (!isHealthUrl(url))
      problems.add(
        new ValidationError(
          where,
          `healthChecks[${i}].url`,
          url,
          "not a plain http(s)://host:port/path URL",
          "give a URL such as https://127.0.0.1:6443/readyz",
        ),
      );
    return { name, url };
  });
  problems.throwOneOrAll();
  return checks;
}

/** The certificates to consider ([] = all), each problem collected. */
function validateCertificates(
  where: string,
  value: readonly KubeadmCertificate[] | undefined,
  problems: ProblemCollector,
): KubeadmCertificate[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length === 0) {
    problems.add(
      new ValidationError(
        where,
        "certificates",
        value,
        "empty list",
        "leave it unset to consider every certificate, or name some: " +
          KUBEADM_CERTIFICATES.join(", "),
      ),
    );
    return [];
  }
  for (const c of value) {
    if (!(KUBEADM_CERTIFICATES as readonly string[]).includes(c))
      problems.add(
        new ValidationError(
          where,
          "certificates",
          c,
          "not a certificate kubeadm certs renew knows",
          "use one of " + KUBEADM_CERTIFICATES.join(", "),
        ),
      );
  }
  return [...new Set(value)];
}

/**
 * Validates the options and fills in defaults; every problem is reported at once (one as the
 * ValidationError itself, several as ValidationErrors). `where` names the caller in error
 * messages.
 */
export function resolveCertRenewalOptions(
  opts: CertRenewalScriptOptions = {},
  where = "renderCertRenewalScript",
): ResolvedCertRenewalOptions {
  const d = CERT_RENEWAL_DEFAULTS;
  const problems = new ProblemCollector();
  const check = <T>(fn: () => T) => problems.collect(fn);
  const renewBeforeDays = check(() =>
    validateInteger(where, "renewBeforeDays", opts.renewBeforeDays ?? d.renewBeforeDays, 1, 365),
  );
  const certificates = validateCertificates(where, opts.certificates, problems);
  let rootfs: string | undefined;
  if (opts.rootfs !== undefined) {
    rootfs = check(() => validateAbsolutePath(where, "rootfs", opts.rootfs!));
    if (rootfs === "/") rootfs = undefined;
  }
  const manifestsDir = check(() =>
    validateAbsolutePath(where, "manifestsDir", opts.manifestsDir ?? d.manifestsDir),
  );
  // the restart moves every manifest out of this directory and back
  if (manifestsDir === "/")
    problems.add(
      new ValidationError(
        where,
        "manifestsDir",
        manifestsDir,
        "the root directory cannot be the static pod manifests directory",
        "give the kubelet's staticPodPath, such as /etc/kubernetes/manifests",
      ),
    );
  // stashDir is checked against a usable manifestsDir only: one bad field, one problem
  const stashDir =
    manifestsDir === undefined || manifestsDir === "/"
      ? check(() => validateAbsolutePath(where, "stashDir", opts.stashDir ?? d.stashDir))
      : check(() => validateStashDir(where, opts.stashDir ?? d.stashDir, manifestsDir));
  const resolved = {
    renewBeforeDays: renewBeforeDays!,
    certificates,
    renewAll: check(() => bool(where, "renewAll", opts.renewAll, false))!,
    dryRun: check(() => bool(where, "dryRun", opts.dryRun, false))!,
    kubeadm: check(() => validateCommand(where, "kubeadm", opts.kubeadm ?? d.kubeadm))!,
    rootfs,
    certDir: check(() => validateAbsolutePath(where, "certDir", opts.certDir ?? d.certDir))!,
    kubeconfig: check(() =>
      validateAbsolutePath(where, "kubeconfig", opts.kubeconfig ?? d.kubeconfig),
    )!,
    config:
      opts.config === undefined
        ? undefined
        : check(() => validateAbsolutePath(where, "config", opts.config!)),
    manifestsDir: manifestsDir!,
    stashDir: stashDir!,
    restartWaitSeconds: check(() =>
      validateInteger(
        where,
        "restartWaitSeconds",
        opts.restartWaitSeconds ?? d.restartWaitSeconds,
        0,
        3600,
      ),
    )!,
    healthChecks: check(() => validateHealthChecks(where, opts.healthChecks))!,
    healthTimeoutSeconds: check(() =>
      validateInteger(
        where,
        "healthTimeoutSeconds",
        opts.healthTimeoutSeconds ?? d.healthTimeoutSeconds,
        1,
        3600,
      ),
    )!,
  };
  problems.throwOneOrAll();
  return resolved;
}

/** The kubeadm flags every call gets: --cert-dir, --kubeconfig and, when set, --config. */
export function kubeadmCertFlags(o: ResolvedCertRenewalOptions): string[] {
  const flags = [`--cert-dir=${o.certDir}`, `--kubeconfig=${o.kubeconfig}`];
  if (o.config) flags.push(`--config=${o.config}`);
  return flags;
}

/**
 * The certificate renewal as one self-contained bash script (`bash -s`, `bash -c`, or
 * `sh -c` with busybox sh). See the module comment for the steps.
 */
export function renderCertRenewalScript(
  opts: CertRenewalScriptOptions = {},
  where = "renderCertRenewalScript",
): string {
  const o = resolveCertRenewalOptions(opts, where);
  const hostPath = (p: string) => (o.rootfs ? `${o.rootfs}${p}` : p);
  const kubeadmCall = o.rootfs
    ? `chroot ${shArg(o.rootfs)} ${shArg(o.kubeadm)} "$@"`
    : `${shArg(o.kubeadm)} "$@"`;
  const flags = kubeadmCertFlags(o).map(shArg).join(" ");
  const manifests = renderStaticPodManifestSteps(
    { stashPrefix: "kube-upkeep-manifests", context: "function", requireManifests: true },
    where,
  );
  const header = [
    "#!/usr/bin/env bash",
    "# kube-upkeep certificate renewal: check, renew what is due, restart static pods, check again",
    PORTABLE_STRICT,
    `renew_before_days=${o.renewBeforeDays}`,
    `wanted=${shArg(o.certificates.join(" "))}`,
    `dry_run=${o.dryRun ? 1 : 0}`,
    `renew_all=${o.renewAll ? 1 : 0}`,
    `manifests_dir=${shArg(hostPath(o.manifestsDir))}`,
    `stash_parent=${shArg(hostPath(o.stashDir))}`,
    `restart_wait=${o.restartWaitSeconds}`,
    `rootfs=${shArg(o.rootfs ?? "")}`,
    "# one `name url` line per endpoint that must answer 2xx after the restart",
    `health_checks=${shArg(o.healthChecks.map((c) => `${c.name} ${c.url}`).join("\n"))}`,
    `health_timeout=${o.healthTimeoutSeconds}`,
    'probe_tool=""',
    'stash=""',
    'log() { printf \'%s cert-renewal: %s\\n\' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }',
    `kubeadm_run() { ${kubeadmCall}; }`,
  ];
  const steps = (lines: string[]) => lines.join("\n");
  const body = String.raw`
# One line per certificate: name residualTime(seconds) externallyManaged missing.
# kubeadm's own messages (stderr) are merged in and skipped by the parser below.
check_expiration() {
  kubeadm_run certs check-expiration ${flags} -o ${shArg("jsonpath=" + CHECK_EXPIRATION_JSONPATH)} 2>&1
}

# STATE name days-left, STATE one of RENEW EXTERNAL OK MISSING SKIPPED
classify() {
  awk -v limit="$((renew_before_days * 86400))" -v wanted="$wanted" '
    BEGIN { n = split(wanted, w, " "); for (i = 1; i <= n; i++) sel[w[i]] = 1 }
    NF == 4 && $3 ~ /^(true|false)$/ && $4 ~ /^(true|false)$/ {
      days = int(($2 + 0) / 86400)
      if ($4 == "true") { print "MISSING", $1, "-"; next }
      if (n > 0 && !($1 in sel)) { print "SKIPPED", $1, days; next }
      if ($2 + 0 >= limit) { print "OK", $1, days; next }
      if ($3 == "true") { print "EXTERNAL", $1, days; next }
      print "RENEW", $1, days
    }'
}

# Runs check-expiration and classifies; fails with kubeadm's output when kubeadm fails.
check() {
  local out
  if ! out=$(check_expiration); then
    log "ERROR: kubeadm certs check-expiration failed: $out"
    return 1
  fi
  report=$(printf '%s\n' "$out" | classify)
  if [ -z "$report" ]; then
    log "ERROR: kubeadm certs check-expiration reported no certificates: $out"
    return 1
  fi
  while read -r state name days; do
    case "$state" in
      RENEW) log "$name: $days days left, within $renew_before_days: renew" ;;
      EXTERNAL) log "$name: $days days left, within $renew_before_days, but externally managed: renew it with its external CA" ;;
      OK) log "$name: $days days left" ;;
      MISSING) log "$name: missing (not on this node)" ;;
      SKIPPED) log "$name: $days days left (not selected)" ;;
    esac
  done <<EOF
$report
EOF
}

names() { printf '%s\n' "$report" | awk -v s="$1" '$1 == s { print $2 }'; }

${steps(manifests.restoreFunction)}

# The probe: curl in this container, else the host's curl, else wget (see the module
# comment for why wget comes last). Picked before anything is renewed.
pick_probe() {
  if [ -z "$health_checks" ]; then return 0; fi
  if command -v curl >/dev/null 2>&1; then
    probe_tool=curl
  elif [ -n "$rootfs" ] && chroot "$rootfs" sh -c 'command -v curl' >/dev/null 2>&1; then
    probe_tool=host-curl
  elif command -v wget >/dev/null 2>&1; then
    probe_tool=wget
  else
    log "ERROR: neither curl nor wget here${"${"}rootfs:+ nor curl in $rootfs}: nothing to check the control plane's health with after the restart; install curl, or give healthChecks: [] to not wait"
    return 1
  fi
  log "health probes with $probe_tool"
}

# probe <url>: succeeds when the endpoint answers 2xx within a few seconds
probe() {
  case "$probe_tool" in
    curl) curl -fsSk --max-time 5 -o /dev/null "$1" ;;
    host-curl) chroot "$rootfs" curl -fsSk --max-time 5 -o /dev/null "$1" ;;
    # busybox wget crashes on -T: timeout bounds it instead
    wget) timeout 10 wget -q -O /dev/null --no-check-certificate "$1" ;;
  esac
}

# Each endpoint in turn until it answers, all within $health_timeout s of the manifests' return.
wait_healthy() {
  local t0 deadline name url err
  if [ -z "$health_checks" ]; then
    log "no health checks given: not waiting for the control plane"
    return 0
  fi
  t0=$(date +%s)
  deadline=$((t0 + health_timeout))
  while read -r name url; do
    [ -n "$name" ] || continue
    while ! err=$(probe "$url" 2>&1 </dev/null); do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        log "ERROR: $name did not answer $url within ${"${"}health_timeout}s after the static pods were restarted: ${"${"}err:-no answer}"
        return 1
      fi
      sleep 2
    done
    log "$name healthy ($url), $(($(date +%s) - t0))s after the manifests came back"
  done <<EOF
$health_checks
EOF
}

restart_static_pods() {
${steps([...manifests.refuseLeftovers, ...manifests.stash, ...manifests.unstash])}
}

log "checking certificate expiration (renewing what expires within $renew_before_days days)"
check
to_renew=$(names RENEW | tr "\n" " ")
external=$(names EXTERNAL | tr "\n" " ")
if [ -z "$to_renew" ]; then
  log "nothing to renew"
elif [ "$dry_run" = 1 ]; then
  if [ "$renew_all" = 1 ]; then log "dry run: would run kubeadm certs renew all (due: $to_renew)"; else log "dry run: would renew: $to_renew"; fi
  log "dry run: would then restart the static pods in $manifests_dir"
else
  pick_probe
  if [ "$renew_all" = 1 ]; then targets=all; else targets=$to_renew; fi
  for name in $targets; do
    log "kubeadm certs renew $name"
    if ! out=$(kubeadm_run certs renew "$name" ${flags} 2>&1); then
      log "ERROR: kubeadm certs renew $name failed: $out"
      exit 1
    fi
    printf '%s\n' "$out" >&2
  done
  restart_static_pods
  wait_healthy
  log "checking certificate expiration again"
  check
  still=$(names RENEW | tr "\n" " ")
  if [ -n "$still" ]; then
    log "ERROR: still expiring within $renew_before_days days after renewal: $still"
    exit 1
  fi
  external=$(names EXTERNAL | tr "\n" " ")
fi
if [ -n "$external" ] && [ "$dry_run" != 1 ]; then
  log "ERROR: externally managed certificates expire within $renew_before_days days: $external"
  exit 1
fi
log "done"
`;
  return `${header.join("\n")}\n${body}`;
}
