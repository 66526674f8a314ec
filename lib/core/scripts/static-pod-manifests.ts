/**
 * Stopping and starting a node's static pods the documented way, as the shell lines the
 * certificate renewal and etcd restore scripts share: every manifest is moved out of the
 * kubelet's manifests directory into a stash directory next to it (on the same host
 * filesystem, so an interrupted run leaves them where an operator finds them), the script
 * waits longer than the kubelet's 20 s fileCheckFrequency, and the manifests go back, also on
 * error or SIGTERM/SIGINT (traps).
 *
 * The lines expect the script to define `log` (one message to stderr), `$manifests_dir`,
 * `$stash_parent` (where the stash directory is created), `$restart_wait` (seconds) and
 * `stash=""`, and, in the "top-level" context, `fail` (logs `ERROR: ...` and exits 1).
 * Used by cert-renewal.ts and etcd-restore.ts; not exported from the package index.
 */
import { ValidationError } from "../errors";
import { pathWithin, validateAbsolutePath, validateFileName } from "./shell";

/**
 * The stash parent directory (`stashDir` option): an absolute path outside `manifestsDir`
 * (inside it, the kubelet would still see the stashed manifests).
 */
export function validateStashDir(where: string, value: string, manifestsDir: string): string {
  const stashDir = validateAbsolutePath(where, "stashDir", value);
  if (pathWithin(stashDir, manifestsDir))
    throw new ValidationError(
      where,
      "stashDir",
      stashDir,
      `is inside manifestsDir ${manifestsDir}, where the kubelet would still see the manifests`,
      "give a directory outside the manifests directory, such as /etc/kubernetes/tmp",
    );
  return stashDir;
}

/** Options of {@link renderStaticPodManifestSteps}. */
export interface StaticPodManifestOptions {
  /** The stash is `$stash_parent/<stashPrefix>.XXXXXX` (mktemp). */
  readonly stashPrefix: string;
  /**
   * Stash name prefixes (`<prefix>.*` in `$stash_parent`) left by interrupted runs that make
   * the `refuseLeftovers` step fail.
   *
   * @default [stashPrefix]
   */
  readonly leftoverPrefixes?: readonly string[];
  /**
   * Where the steps stand: "function" (indented two spaces inside a shell function of the
   * caller; a failure logs `ERROR: ...` and returns 1) or "top-level" (not indented; a failure
   * calls the script's `fail`).
   */
  readonly context: "function" | "top-level";
  /**
   * A shell function run on EXIT while the manifests are out, which must call
   * `restore_manifests`; TERM and INT then just `exit 143` into it.
   *
   * @default - EXIT runs `restore_manifests`; TERM and INT run it, then `exit 143`
   */
  readonly exitHandler?: string;
  /**
   * Count the manifests before stashing and fail when there are none ("is this a kubeadm
   * control-plane node?"); the log line then gives the number moved.
   *
   * @default false
   */
  readonly requireManifests?: boolean;
}

/** The shell lines of {@link renderStaticPodManifestSteps}, to place in the script in order. */
export interface StaticPodManifestSteps {
  /**
   * The function `restore_manifests` (top level): moves the stashed manifests back, removes the
   * stash, clears `$stash`; does nothing when nothing is stashed.
   */
  readonly restoreFunction: string[];
  /** Fails when a stash of an interrupted run is still in `$stash_parent`. */
  readonly refuseLeftovers: string[];
  /** Creates the stash, sets the traps, moves the manifests there and waits `$restart_wait`. */
  readonly stash: string[];
  /** Moves the manifests back and clears the traps. */
  readonly unstash: string[];
}

/** Renders the steps (see the module comment); `where` names the caller in error messages. */
export function renderStaticPodManifestSteps(
  opts: StaticPodManifestOptions,
  where = "renderStaticPodManifestSteps",
): StaticPodManifestSteps {
  const prefix = validateFileName(where, "stashPrefix", opts.stashPrefix);
  const leftovers = (opts.leftoverPrefixes ?? [prefix]).map((p, i) =>
    validateFileName(where, `leftoverPrefixes[${i}]`, p),
  );
  if (leftovers.length === 0)
    throw new ValidationError(
      where,
      "leftoverPrefixes",
      opts.leftoverPrefixes,
      "empty list",
      "list the stash prefixes of interrupted runs, at least stashPrefix",
    );
  if (opts.context !== "function" && opts.context !== "top-level")
    throw new ValidationError(
      where,
      "context",
      opts.context,
      "not a context",
      'give "function" (inside a shell function) or "top-level"',
    );
  const inFunction = opts.context === "function";
  const exitHandler =
    opts.exitHandler === undefined
      ? undefined
      : shellFunctionName(where, "exitHandler", opts.exitHandler);
  /** A failure with a message (in double quotes, expanded by the shell), indented by `pad`. */
  const failure = (message: string, pad: string) =>
    inFunction ? `${pad}log "ERROR: ${message}"\n${pad}return 1` : `${pad}fail "${message}"`;
  /** The lines of a block, indented two spaces inside a function. */
  const block = (text: string) => text.split("\n").map((l) => (inFunction ? `  ${l}` : l));

  // `local` exists only inside a function (bash rejects it at the top level)
  const count = String.raw`${inFunction ? "local " : ""}found=0
for f in "$manifests_dir"/*; do
  [ -f "$f" ] && found=$((found + 1))
done
if [ "$found" -eq 0 ]; then
${failure("no static pod manifests in $manifests_dir; is this a kubeadm control-plane node?", "  ")}
fi
`;
  const moved = opts.requireManifests ? "$found static pod manifests" : "the static pod manifests";
  const traps = exitHandler
    ? `trap ${exitHandler} EXIT\ntrap 'exit 143' TERM INT`
    : `trap restore_manifests EXIT\ntrap 'restore_manifests; exit 143' TERM INT`;
  return {
    restoreFunction: String.raw`restore_manifests() {
  if [ -n "$stash" ] && [ -d "$stash" ]; then
    for f in "$stash"/*; do
      [ -e "$f" ] || continue
      mv "$f" "$manifests_dir/"
    done
    rmdir "$stash"
    log "moved the static pod manifests back to $manifests_dir"
  fi
  stash=""
}`.split("\n"),
    refuseLeftovers: block(String.raw`if [ -d "$stash_parent" ]; then
  for d in ${leftovers.map((p) => `"$stash_parent"/${p}.*`).join(" ")}; do
    [ -d "$d" ] || continue
${failure("$d holds manifests from an interrupted run; move them back to $manifests_dir and remove $d", "    ")}
  done
fi`),
    stash: block(String.raw`${opts.requireManifests ? count : ""}mkdir -p "$stash_parent"
stash=$(mktemp -d "$stash_parent/${prefix}.XXXXXX")
${traps}
for f in "$manifests_dir"/*; do
  [ -f "$f" ] || continue
  mv "$f" "$stash/"
done
log "moved ${moved} to $stash; waiting ${"${"}restart_wait}s for the kubelet to stop the pods"
sleep "$restart_wait"`),
    unstash: block("restore_manifests\ntrap - EXIT TERM INT"),
  };
}

function shellFunctionName(where: string, field: string, value: string): string {
  if (typeof value !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value))
    throw new ValidationError(
      where,
      field,
      value,
      "not a shell function name",
      "give the name of a function the script defines, such as on_exit",
    );
  return value;
}
