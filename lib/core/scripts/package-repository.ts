/**
 * The Kubernetes package repository a node upgrade installs from (`packageRepository`), rendered
 * into both the upgrade script (which switches the node's repository) and the preflight (which
 * checks the repository the upgrade will use, without touching the node's own configuration).
 *
 * pkgs.k8s.io has one repository per minor (`https://pkgs.k8s.io/core:/stable:/v1.35/deb/`,
 * rpm: `.../v1.35/rpm/`), so a minor upgrade must move the node's sources first: the official
 * "Changing the Kubernetes package repository" step
 * (https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/change-package-repository/).
 *
 * - `"auto"` (default): every pkgs.k8s.io-shaped entry (any host whose path is
 *   `.../core:/stable:/vX.Y/deb/`, or `.../rpm/` in a `baseurl` / `gpgkey`) of another minor moves
 *   to the target's. apt: in `sources.list` and `sources.list.d/*.list` (one-line format, as the
 *   install guide writes it; deb822 `.sources` files are not edited); the entry's `signed-by`
 *   keyring becomes `<Dir::Etc>/keyrings/kubernetes-apt-keyring-<minor>.gpg`, the target's
 *   `Release.key` dearmored (gpg), as the install guide does it. yum/dnf: `*.repo` in
 *   /etc/yum.repos.d. No such entry: the sources are left as they are.
 * - a URL (`http://10.0.0.1:8080/core:/stable:/{minor}/deb/`; `{minor}` becomes `v1.35`):
 *   kube-upkeep owns `sources.list.d/kubernetes.list` (apt: `deb [signed-by=<keyring>] <url> /`,
 *   key `<url>Release.key`) or `/etc/yum.repos.d/kubernetes.repo` (`[kubernetes]`, `baseurl=<url>`,
 *   `gpgkey=<url>repodata/repomd.xml.key`), the files of the install guide. For mirrors and
 *   repositories shaped like pkgs.k8s.io on another base URL, plain http included.
 * - `false` or `"leave"`: the sources are not touched (custom mirrors with every version).
 *
 * Rollback: a file that is changed is first copied to `<file>.kube-upkeep-<from>.save` (`<from>`
 * is the minor in the old entry, e.g. `kubernetes.list.kube-upkeep-v1.34.save`; apt ignores
 * `*.save` silently, yum reads only `*.repo`), once: a re-run never overwrites it. The old keyring
 * stays where it was. Idempotent: an entry already at the target minor (or a kubernetes.list /
 * kubernetes.repo already as wanted) is not rewritten, an existing target keyring is not fetched
 * again.
 */
import { ValidationError } from "../errors";
import type { KubeVersion } from "../version";
import { shArg } from "./shell";
import type { PackageManager } from "./node-upgrade";

/** `"auto"` (pkgs.k8s.io-shaped entries follow the target minor), a URL template, or leave alone. */
export type PackageRepository = "auto" | "leave" | false | string;

/** A validated `packageRepository`: the URL has `{minor}` replaced already. */
export type ResolvedPackageRepository =
  | { readonly kind: "auto" }
  | { readonly kind: "leave" }
  | { readonly kind: "url"; readonly url: string };

/** `v1.35` for v1.35.4: the path segment of the pkgs.k8s.io repository of that minor. */
export function repositoryMinor(target: KubeVersion): string {
  return `v${target.major}.${target.minor}`;
}

const URL_FIX =
  'give "auto" (pkgs.k8s.io-shaped entries follow the target minor), a URL such as "http://10.0.0.1:8080/core:/stable:/{minor}/deb/" ({minor} becomes v1.35; http(s), no credentials, ending in "/"), or false to leave the node\'s sources alone';

/** Validates `packageRepository` and substitutes `{minor}`. */
export function resolvePackageRepository(
  where: string,
  field: string,
  value: PackageRepository | undefined,
  target: KubeVersion,
): ResolvedPackageRepository {
  if (value === undefined || value === "auto") return { kind: "auto" };
  if (value === false || value === "leave") return { kind: "leave" };
  const fail = (problem: string): never => {
    throw new ValidationError(where, field, value, problem, URL_FIX);
  };
  if (typeof value !== "string") return fail("not a repository setting");
  if (!/^https?:\/\//.test(value)) return fail('neither "auto", "leave" nor an http(s) URL');
  if (value.length > 512) return fail("longer than 512 characters");
  const url = value.split("{minor}").join(repositoryMinor(target));
  if (url.includes("{") || url.includes("}")) return fail("has a placeholder other than {minor}");
  if (
    !/^https?:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?\/([A-Za-z0-9._~:%+,=-]+\/)*$/.test(
      url,
    )
  )
    return fail(
      'has characters that must not reach a shell or does not end in "/" (allowed in the path: letters, digits and . _ ~ : % + , = -)',
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail("not parseable as a URL");
  }
  if (parsed.username || parsed.password) fail("carries credentials");
  return { kind: "url", url };
}

/** Shell functions both scripts use (they need `log` and `as_root`); `shape`: the rewrite ones. */
function helpers(pm: PackageManager, shape: boolean): string[] {
  const L: string[] = [];
  if (pm === "apt") {
    L.push(
      "# Where apt reads its sources: the node's own apt configuration (apt-config), else the defaults.",
      "# shellcheck disable=SC2034 # not every script reads every one of them",
      "ku_apt_dirs() {",
      "  APT_SL=/etc/apt/sources.list",
      "  APT_SP=/etc/apt/sources.list.d/",
      "  APT_ETC=/etc/apt/",
      "  if command -v apt-config >/dev/null 2>&1; then",
      '    eval "$(apt-config shell APT_SL Dir::Etc::sourcelist/f APT_SP Dir::Etc::sourceparts/d APT_ETC Dir::Etc/d)"',
      "  fi",
      "}",
    );
    if (shape)
      L.push(
        "# stdin -> stdout: pkgs.k8s.io-shaped entries moved to $REPO_MINOR, signed by keyring $1.",
        "ku_apt_rewrite() {",
        "  case $1 in *'#'* | *'&'* | *\\\\*) log \"package repository: keyring path $1 cannot be written into an entry\"; return 1 ;; esac",
        '  sed -E -e "\\\\#$APT_SHAPE#s#/core:/stable:/v[0-9]+[.][0-9]+/deb/#/core:/stable:/$REPO_MINOR/deb/#g" \\',
        '    -e "\\\\#$APT_SHAPE#s#signed-by=[^] ]*#signed-by=$1#"',
        "}",
        "# The base URL (up to .../core:/stable:/) of the first pkgs.k8s.io-shaped entry of file $1.",
        "ku_apt_base() {",
        '  grep -E "$APT_SHAPE" "$1" | sed -nE \'s#.*[[:space:]]([A-Za-z0-9+.-]+://[^[:space:]]*/core:/stable:/)v[0-9]+[.][0-9]+/deb/.*#\\1#p\' | head -n 1',
        "}",
      );
    L.push(
      "# Downloads $1 to $2 (curl, else wget).",
      "ku_fetch() {",
      "  if command -v curl >/dev/null 2>&1; then",
      "    # bounded: a host that drops the packets must not hold the roll for curl's default 5 min",
      '    curl -fsSL --connect-timeout 20 --max-time 120 --retry 2 -o "$2" "$1"',
      "  elif command -v wget >/dev/null 2>&1; then",
      '    wget -q -T 20 -t 2 -O "$2" "$1"',
      "  else",
      '    log "neither curl nor wget on the node: cannot download $1"',
      "    return 1",
      "  fi",
      "}",
      "# The OpenPGP key at URL $1 as a binary keyring in file $2 (gpg --dearmor, as the install guide).",
      "ku_keyring() {",
      '  ku_k=$(mktemp -d "${TMPDIR:-/tmp}/kube-upkeep-key.XXXXXX") || return 1',
      '  if ! ku_fetch "$1" "$ku_k/key"; then',
      '    rm -rf "$ku_k"',
      "    return 1",
      "  fi",
      "  if grep -q 'BEGIN PGP PUBLIC KEY BLOCK' \"$ku_k/key\"; then",
      "    if ! command -v gpg >/dev/null 2>&1; then",
      '      log "gpg is missing: cannot dearmor the key from $1 (apt-get install gpg)"',
      '      rm -rf "$ku_k"',
      "      return 1",
      "    fi",
      '    if ! gpg --homedir "$ku_k" --batch --dearmor <"$ku_k/key" >"$2"; then',
      '      rm -rf "$ku_k"',
      "      return 1",
      "    fi",
      "  else",
      '    cp "$ku_k/key" "$2"',
      "  fi",
      '  rm -rf "$ku_k"',
      '  [ -s "$2" ]',
      "}",
    );
  }
  return L;
}

/**
 * Shell assignments of the target minor, the patterns (`target`: also the target's own; `shape`:
 * the shape of any minor) and the yum repository directory.
 */
function patterns(
  pm: PackageManager,
  target: KubeVersion,
  hostRoot: string,
  use: { shape: boolean; target: boolean; minor: boolean },
): string[] {
  const minor = repositoryMinor(target);
  const minorRe = minor.replace(/\./g, "[.]");
  const kind = pm === "apt" ? "deb" : "rpm";
  const L = use.minor ? [`REPO_MINOR=${shArg(minor)}`] : [];
  if (use.shape)
    L.push(
      pm === "apt"
        ? `APT_SHAPE=${shArg("^[[:space:]]*deb(-src)?[[:space:]].*/core:/stable:/v[0-9]+[.][0-9]+/deb/")}`
        : `RPM_SHAPE=${shArg("^[[:space:]]*(baseurl|gpgkey)[[:space:]]*=.*/core:/stable:/v[0-9]+[.][0-9]+/rpm/")}`,
    );
  if (use.target)
    L.push(`${pm === "apt" ? "APT" : "RPM"}_TARGET=${shArg(`/core:/stable:/${minorRe}/${kind}/`)}`);
  if (pm !== "apt") L.push(`YUM_REPOS=${shArg(`${hostRoot}/etc/yum.repos.d`)}`);
  return L;
}

/** The rpm repository file kube-upkeep writes for a URL (the install guide's kubernetes.repo). */
function rpmRepoLines(urlVar: string): string {
  return [
    "printf '%s\\n' '[kubernetes]' 'name=Kubernetes'",
    `"baseurl=\${${urlVar}}"`,
    "'enabled=1' 'gpgcheck=1'",
    `"gpgkey=\${${urlVar}}repodata/repomd.xml.key"`,
    "'exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni'",
  ].join(" ");
}

/**
 * Lines of the upgrade script that switch the node's repository (run after the "already at the
 * target" exit, before the kubeadm package). They set `repo_changed=1` when they changed a file;
 * the caller refreshes the package index then. Needs `log`, `as_root` and `$KU_TMP` (a private
 * temp dir).
 */
export function renderRepositorySwitch(
  repo: ResolvedPackageRepository,
  pm: PackageManager,
  target: KubeVersion,
  hostRoot = "",
): string[] {
  const minor = repositoryMinor(target);
  if (repo.kind === "leave") {
    return [
      "# Package repository: packageRepository is false, the node's sources are left as they are.",
      "repo_changed=0",
    ];
  }
  const L: string[] = [
    `# Package repository (${repo.kind === "auto" ? "auto: pkgs.k8s.io-shaped entries of another minor move" : "kube-upkeep's entry"} to ${minor}); the old file is kept`,
    "# as <file>.kube-upkeep-<from>.save (kubernetes.io/docs/tasks/administer-cluster/kubeadm/change-package-repository/).",
    ...patterns(pm, target, hostRoot, {
      shape: repo.kind === "auto",
      target: repo.kind === "auto",
      minor: true,
    }),
    ...(repo.kind === "url" ? [`REPO_URL=${shArg(repo.url)}`] : []),
    ...helpers(pm, repo.kind === "auto"),
    "# The minor (vX.Y) of the first entry of file $1 that names one, else before-$REPO_MINOR.",
    "ku_minor_of() {",
    "  ku_m=$(sed -nE 's|^[^#]*/(v[0-9]+[.][0-9]+)/.*|\\1|p' \"$1\" 2>/dev/null | head -n 1)",
    "  printf '%s\\n' \"${ku_m:-before-$REPO_MINOR}\"",
    "}",
    "# Replaces file $1 by file $2 (atomically, mode 644), after keeping a copy of it as $1.kube-upkeep-$3.save once.",
    "ku_replace() {",
    '  if [ -f "$1" ] && [ ! -e "$1.kube-upkeep-$3.save" ]; then',
    '    as_root cp -p "$1" "$1.kube-upkeep-$3.save"',
    '    log "package repository: the previous $1 is kept as $1.kube-upkeep-$3.save"',
    "  fi",
    '  as_root tee "$1.kube-upkeep-new.save" <"$2" >/dev/null',
    '  as_root chmod 644 "$1.kube-upkeep-new.save"',
    '  as_root mv -f "$1.kube-upkeep-new.save" "$1"',
    "}",
    "# A private temp dir in $KU_TMP, made when first needed (removed at exit).",
    "ku_tmp() {",
    '  if [ -z "${KU_TMP:-}" ]; then',
    '    KU_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kube-upkeep-upgrade.XXXXXX")',
    "    trap 'rm -rf \"$KU_TMP\"' EXIT",
    "  fi",
    "}",
    "repo_changed=0",
  ];
  if (pm === "apt") {
    L.push(
      "ku_apt_dirs",
      'KEYRING="${APT_ETC}keyrings/kubernetes-apt-keyring-$REPO_MINOR.gpg"',
      "# The target's key into $KEYRING (kept when it is there: a re-run does not fetch it again).",
      "ku_install_keyring() {",
      '  if [ -s "$KEYRING" ]; then return 0; fi',
      "  ku_tmp",
      '  if ! ku_keyring "$1" "$KU_TMP/keyring.gpg"; then',
      '    log "package repository: could not get the key of $REPO_MINOR from $1; the sources are unchanged"',
      "    exit 1",
      "  fi",
      '  as_root mkdir -p -m 755 "${KEYRING%/*}"',
      '  as_root tee "$KEYRING.kube-upkeep-new" <"$KU_TMP/keyring.gpg" >/dev/null',
      '  as_root chmod 644 "$KEYRING.kube-upkeep-new"',
      '  as_root mv -f "$KEYRING.kube-upkeep-new" "$KEYRING"',
      '  log "package repository: key of $REPO_MINOR from $1 in $KEYRING"',
      "}",
    );
    if (repo.kind === "auto") {
      L.push(
        "repo_seen=0",
        'for f in "$APT_SL" "$APT_SP"*.list; do',
        '  [ -f "$f" ] || continue',
        '  grep -Eq "$APT_SHAPE" "$f" || continue',
        "  repo_seen=1",
        '  grep -E "$APT_SHAPE" "$f" | grep -Evq "$APT_TARGET" || continue',
        '  ku_from=$(ku_minor_of "$f")',
        '  ku_install_keyring "$(ku_apt_base "$f")$REPO_MINOR/deb/Release.key"',
        "  ku_tmp",
        '  ku_apt_rewrite "$KEYRING" <"$f" >"$KU_TMP/new"',
        '  ku_replace "$f" "$KU_TMP/new" "$ku_from"',
        '  log "package repository: $f moved from $ku_from to $REPO_MINOR"',
        "  repo_changed=1",
        "done",
        'if [ "$repo_seen" = 0 ]; then',
        '  log "package repository: no pkgs.k8s.io-shaped entry (.../core:/stable:/vX.Y/deb/) in $APT_SL or $APT_SP*.list: sources left as they are"',
        'elif [ "$repo_changed" = 0 ]; then',
        '  log "package repository: already at $REPO_MINOR"',
        "fi",
      );
    } else {
      L.push(
        'ku_list="${APT_SP}kubernetes.list"',
        "ku_tmp",
        'printf \'deb [signed-by=%s] %s /\\n\' "$KEYRING" "$REPO_URL" >"$KU_TMP/new"',
        'if [ -f "$ku_list" ] && cmp -s "$ku_list" "$KU_TMP/new"; then',
        '  log "package repository: $ku_list already points at $REPO_URL"',
        "else",
        '  ku_install_keyring "${REPO_URL}Release.key"',
        '  ku_replace "$ku_list" "$KU_TMP/new" "$(ku_minor_of "$ku_list")"',
        '  log "package repository: $ku_list points at $REPO_URL"',
        "  repo_changed=1",
        "fi",
      );
    }
    return L;
  }
  if (repo.kind === "auto") {
    L.push(
      "repo_seen=0",
      'for f in "$YUM_REPOS"/*.repo; do',
      '  [ -f "$f" ] || continue',
      '  grep -Eq "$RPM_SHAPE" "$f" || continue',
      "  repo_seen=1",
      '  grep -E "$RPM_SHAPE" "$f" | grep -Evq "$RPM_TARGET" || continue',
      '  ku_from=$(ku_minor_of "$f")',
      "  ku_tmp",
      '  sed -E "\\\\#$RPM_SHAPE#s#/core:/stable:/v[0-9]+[.][0-9]+/rpm/#/core:/stable:/$REPO_MINOR/rpm/#g" "$f" >"$KU_TMP/new"',
      '  ku_replace "$f" "$KU_TMP/new" "$ku_from"',
      '  log "package repository: $f moved from $ku_from to $REPO_MINOR"',
      "  repo_changed=1",
      "done",
      'if [ "$repo_seen" = 0 ]; then',
      '  log "package repository: no pkgs.k8s.io-shaped baseurl (.../core:/stable:/vX.Y/rpm/) in $YUM_REPOS/*.repo: left as they are"',
      'elif [ "$repo_changed" = 0 ]; then',
      '  log "package repository: already at $REPO_MINOR"',
      "fi",
    );
  } else {
    L.push(
      'ku_repo="$YUM_REPOS/kubernetes.repo"',
      "ku_tmp",
      `${rpmRepoLines("REPO_URL")} >"$KU_TMP/new"`,
      'if [ -f "$ku_repo" ] && cmp -s "$ku_repo" "$KU_TMP/new"; then',
      '  log "package repository: $ku_repo already points at $REPO_URL"',
      "else",
      '  ku_replace "$ku_repo" "$KU_TMP/new" "$(ku_minor_of "$ku_repo")"',
      '  log "package repository: $ku_repo points at $REPO_URL"',
      "  repo_changed=1",
      "fi",
    );
  }
  return L;
}

/**
 * Lines of the preflight that set up, in `$T` only, the repository the upgrade will use, and
 * define `ku_versions <package>` (the versions of a package in it, one a line) and `PROBE_DESC`
 * (what it is, for messages). Nothing of the node's own configuration, package lists or caches
 * is written: apt reads `$T/sources.list` / `$T/parts` and keeps its lists in `$T/lists`
 * (`-o Dir::Etc::SourceList=... -o Dir::Etc::SourceParts=... -o Dir::State::Lists=...`, caches
 * off); yum/dnf read `$T/repos` (`--setopt=reposdir=`) with `--setopt=cachedir=$T/cache`. Needs
 * `log`, `as_root`, `fail`, `$T` and `$PM`. Sets `PROBE_OK=0` when the repository could not be set
 * up (a failure was reported).
 */
export function renderRepositoryProbe(
  repo: ResolvedPackageRepository,
  pm: PackageManager,
  target: KubeVersion,
  updateIndex: boolean,
  hostRoot = "",
): string[] {
  const auto = repo.kind === "auto";
  const L: string[] = [
    ...patterns(pm, target, hostRoot, {
      shape: auto,
      target: false,
      minor: auto || pm === "apt",
    }),
  ];
  if (repo.kind === "url") L.push(`REPO_URL=${shArg(repo.url)}`);
  L.push(...helpers(pm, auto), "PROBE_OK=1");
  const keyFix =
    "check that the node reaches it (DNS, proxy, firewall), or set script.packageRepository to a mirror's URL, or to false to leave the sources alone";
  if (pm === "apt") {
    L.push(
      "ku_apt_dirs",
      'mkdir -p "$T/parts" "$T/lists/partial"',
      ': >"$T/sources.list"',
      "# apt's download sandbox (user _apt) reads the keyring and writes the lists",
      'chmod 755 "$T" "$T/lists" "$T/parts"',
      'if id _apt >/dev/null 2>&1; then as_root chown _apt "$T/lists/partial" 2>/dev/null || true; fi',
      'PROBE_SL="$T/sources.list"',
      'PROBE_SP="$T/parts/"',
      'PROBE_LISTS="$T/lists"',
      'PROBE_DESC=""',
      'PROBE_KEY=""',
    );
    if (repo.kind === "auto") {
      L.push(
        'for f in "$APT_SL" "$APT_SP"*.list; do',
        '  [ -f "$f" ] || continue',
        '  grep -Eq "$APT_SHAPE" "$f" || continue',
        '  ku_base=$(ku_apt_base "$f")',
        '  [ -n "$PROBE_KEY" ] || PROBE_KEY="${ku_base}$REPO_MINOR/deb/Release.key"',
        '  grep -E "$APT_SHAPE" "$f" | ku_apt_rewrite "$T/keyring.gpg" >"$T/parts/${f##*/}"',
        '  PROBE_DESC="${PROBE_DESC:+$PROBE_DESC, }${ku_base}$REPO_MINOR/deb/ (from $f)"',
        "done",
      );
    } else if (repo.kind === "url") {
      L.push(
        'PROBE_KEY="${REPO_URL}Release.key"',
        'printf \'deb [signed-by=%s] %s /\\n\' "$T/keyring.gpg" "$REPO_URL" >"$T/parts/kubernetes.list"',
        'PROBE_DESC="$REPO_URL"',
      );
    }
    L.push(
      'if [ -z "$PROBE_DESC" ]; then',
      "  # no repository of kube-upkeep's: the node's own sources, as the upgrade will use them",
      '  PROBE_SL="$APT_SL"',
      '  PROBE_SP="$APT_SP"',
      `  PROBE_DESC="the node's apt sources ($APT_SL, $APT_SP${auto ? "; no pkgs.k8s.io-shaped entry to move" : ""})"`,
      ...(updateIndex ? [] : ['  PROBE_LISTS=""']),
      'elif ! ku_keyring "$PROBE_KEY" "$T/keyring.gpg"; then',
      `  fail package-repository "cannot download the key of $REPO_MINOR from $PROBE_KEY" ${shArg(keyFix)}`,
      "  PROBE_OK=0",
      "else",
      '  chmod 644 "$T/keyring.gpg"',
      "fi",
      "# apt-get / apt-cache on the probe's sources and lists (the node's lists when PROBE_LISTS is empty)",
      "ku_apt() {",
      "  ku_cmd=$1",
      "  shift",
      '  if [ -n "$PROBE_LISTS" ]; then',
      '    as_root "$ku_cmd" -o "Dir::Etc::SourceList=$PROBE_SL" -o "Dir::Etc::SourceParts=$PROBE_SP" \\',
      '      -o "Dir::State::Lists=$PROBE_LISTS" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"',
      "  else",
      '    "$ku_cmd" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"',
      "  fi",
      "}",
      'if [ "$PROBE_OK" = 1 ] && [ -n "$PROBE_LISTS" ]; then',
      '  if ! ku_apt apt-get -q update >"$T/update.log" 2>&1 </dev/null; then',
      `    fail package-index "apt-get update of $PROBE_DESC failed: $(grep -E '^(E|W|Err):' "$T/update.log" | head -n 3 | tr '\\n' ' ')" ${shArg("fix the repository or the node's network, or set script.packageRepository")}`,
      "    PROBE_OK=0",
      "  fi",
      "fi",
      "ku_versions() {",
      "  ku_apt apt-cache madison \"$1\" 2>/dev/null </dev/null | awk -F'|' 'NF >= 3 { gsub(/[[:space:]]/, \"\", $2); print $2 }'",
      "}",
    );
    return L;
  }
  L.push('mkdir -p "$T/repos" "$T/cache"', 'PROBE_REPOS="$T/repos"', 'PROBE_DESC=""');
  if (repo.kind === "auto") {
    L.push(
      'for f in "$YUM_REPOS"/*.repo; do',
      '  [ -f "$f" ] || continue',
      '  grep -Eq "$RPM_SHAPE" "$f" || continue',
      '  sed -E "\\\\#$RPM_SHAPE#s#/core:/stable:/v[0-9]+[.][0-9]+/rpm/#/core:/stable:/$REPO_MINOR/rpm/#g" "$f" >"$T/repos/${f##*/}"',
      '  PROBE_DESC="${PROBE_DESC:+$PROBE_DESC, }$f moved to $REPO_MINOR"',
      "done",
    );
  } else if (repo.kind === "url") {
    L.push(`${rpmRepoLines("REPO_URL")} >"$T/repos/kubernetes.repo"`, 'PROBE_DESC="$REPO_URL"');
  }
  L.push(
    'if [ -z "$PROBE_DESC" ]; then',
    '  PROBE_REPOS="$YUM_REPOS"',
    `  PROBE_DESC="the node's repositories ($YUM_REPOS${auto ? "; no pkgs.k8s.io-shaped baseurl to move" : ""})"`,
    "fi",
    "ku_versions() {",
    '  as_root "$PM" -q --setopt=reposdir="$PROBE_REPOS" --setopt=cachedir="$T/cache" --disableexcludes=all \\',
    '    list --showduplicates "$1" 2>>"$T/rpm.log" </dev/null | awk -v p="$1" \'index($1, p ".") == 1 { print $2 }\'',
    "}",
  );
  return L;
}
