/**
 * A health check of kind `command` as the script remote.Command runs over SSH (on stdin of
 * `sh -s`): the command, tried every `intervalSeconds` until it exits 0 or `timeoutSeconds` have
 * passed; its output on the last attempt is what the check shows (Pulumi's error carries it).
 */
import { shq } from "../core/scripts/shell";
import { checkTiming, healthCheckName, type CommandCheck } from "../core/health/checks";

export function renderHealthCommand(c: CommandCheck): string {
  const { timeoutMs, intervalMs } = checkTiming(c);
  const timeout = Math.ceil(timeoutMs / 1000);
  const interval = Math.max(1, Math.round(intervalMs / 1000));
  const name = healthCheckName(c);
  return [
    "#!/bin/sh",
    `# kube-upkeep health check: ${name.replace(/\n/g, " ")}`,
    `check=${shq(c.command)}`,
    `deadline=$(( $(date +%s) + ${timeout} ))`,
    "n=0",
    "while :; do",
    "  n=$((n + 1))",
    '  if out=$(sh -c "$check" 2>&1); then',
    "    printf '%s\\n' \"$out\"",
    `    echo ${shq(`health check passed: ${name}`)} "(attempt $n)"`,
    "    exit 0",
    "  fi",
    "  rc=$?",
    '  if [ "$(date +%s)" -ge "$deadline" ]; then',
    "    printf '%s\\n' \"$out\" >&2",
    `    echo ${shq(`health check failed: ${name}: did not pass within ${timeout} s`)} "after $n attempt(s), last exit status $rc" >&2`,
    "    exit 1",
    "  fi",
    `  sleep ${interval}`,
    "done",
    "",
  ].join("\n");
}
