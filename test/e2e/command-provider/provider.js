/**
 * A STAND-IN for pulumi-resource-command (@pulumi/command 1.2.1's Go provider), used by the demo
 * and the e2e tests only while the real provider cannot be built here: the Go module proxy does
 * not serve github.com/pulumi/pulumi-command/provider (docs/pulumi-engine.md). When
 * $KU_CACHE/pulumi/bin/pulumi-resource-command exists, that one is used and this file is not.
 *
 * It implements the part of `command:remote:Command` that kube-upkeep uses, with the same
 * semantics as the real provider:
 *  - create: run `create` on the host over SSH (OpenSSH client, key auth; with
 *    `connection.hostKey` the server's key is verified strictly, without it it is not checked),
 *    feeding `stdin`; stdout/stderr become outputs (trailing newline trimmed) and are logged per
 *    `logging` (default stdoutAndStderr); a non-zero exit fails with the command's output.
 *  - update (any input change but `triggers`, the connection included): runs `update` when set,
 *    otherwise runs `create` AGAIN (provider/pkg/provider/remote/commandController.go, Update:
 *    `if news.Update != nil { run(*news.Update) } else if news.Create != nil { run(*news.Create) }`),
 *    with the new inputs (stdin included); stdout/stderr are the previous ones unless a command
 *    ran. Runs nothing in preview (the engine does not call a Node.js provider in preview).
 *  - a connection lost while the command runs (sshd killed, network cut): the session ends without
 *    an exit status, and the error reads as the real provider's: "wait: remote command exited
 *    without exit status or exit signal: running ..." (x/crypto/ssh's ExitMissingError), with
 *    the output so far; the OpenSSH client's own "Connection ... closed" line is dropped.
 *  - triggers: `replaceOnChanges` (common/inputs.go): a change replaces the resource, create
 *    before delete: `create` runs for the new one, then the old one's `delete` (if set).
 *  - delete: runs `delete` only when set, with the old state's connection and stdin.
 *  - diff: any input change is an update, a `triggers` change a replacement.
 *  - id: the resource name and 8 random hex digits (resource.NewUniqueHex(name, 8, 0)).
 * Not implemented (kube-upkeep does not use it): `addPreviousOutputInEnv`, which sets
 * PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR through SSH setenv (an sshd without AcceptEnv,
 * like the test sshd, refuses them and the real provider only warns).
 * `environment` is passed as `export K=V;` prefixes (the real provider uses SSH setenv).
 * Secrets: inputs arrive with secret markers; outputs keep the caller's (wrapped) inputs, so the
 * engine stores them encrypted.
 */
"use strict";
const { spawn } = require("node:child_process");
const { randomBytes } = require("node:crypto");
const { mkdtempSync, writeFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const repoModules = join(__dirname, "..", "..", "..", "node_modules");
const provider = require(join(repoModules, "@pulumi/pulumi/provider"));
const pulumi = require(join(repoModules, "@pulumi/pulumi"));

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";

function unwrap(v) {
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") {
    if (v[SIG] === SECRET) return unwrap(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  }
  return v;
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

function log(level, msg, urn) {
  try {
    pulumi.log[level](msg);
  } catch {
    process.stderr.write(`${msg}\n`);
  }
  void urn;
}

async function runRemote(urn, inputs, command) {
  const i = unwrap(inputs);
  const c = i.connection || {};
  if (!c.host) throw new Error("connection.host is required");
  const dir = mkdtempSync(join(tmpdir(), "ku-cmd-"));
  try {
    const args = [
      "-p",
      String(c.port || 22),
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `ConnectTimeout=${c.perDialTimeout || 15}`,
      "-o",
      `ConnectionAttempts=${Math.max(1, Math.min(c.dialErrorLimit || 10, 10))}`,
      "-o",
      "LogLevel=ERROR",
    ];
    if (c.privateKey) {
      const key = join(dir, "id");
      writeFileSync(key, c.privateKey.endsWith("\n") ? c.privateKey : `${c.privateKey}\n`, {
        mode: 0o600,
      });
      args.push("-i", key);
    }
    if (c.hostKey) {
      const kh = join(dir, "known_hosts");
      const hostPattern = (c.port || 22) === 22 ? c.host : `[${c.host}]:${c.port}`;
      writeFileSync(kh, `${hostPattern} ${c.hostKey.trim()}\n`);
      args.push("-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${kh}`);
    } else {
      args.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
    }
    const env = Object.entries(i.environment || {})
      .map(([k, v]) => `export ${k}=${shellQuote(v)}; `)
      .join("");
    args.push(`${c.user || "root"}@${c.host}`, env + command);
    const logging = i.logging || "stdoutAndStderr";
    return await new Promise((resolve, reject) => {
      const p = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      const stream = (which, buf) => {
        const text = buf.toString();
        if (which === "stdout") stdout += text;
        else stderr += text;
        const wanted =
          logging === "stdoutAndStderr" ||
          (logging === "stdout" && which === "stdout") ||
          (logging === "stderr" && which === "stderr");
        if (wanted) for (const line of text.split("\n")) if (line.trim()) log("info", line, urn);
      };
      p.stdout.on("data", (b) => stream("stdout", b));
      p.stderr.on("data", (b) => stream("stderr", b));
      p.on("error", reject);
      p.on("close", (code) => {
        const trim = (s) => s.replace(/\n$/, "");
        const lost = code === 255 ? connectionLost(stderr) : undefined;
        if (code === 0) resolve({ stdout: trim(stdout), stderr: trim(stderr) });
        else if (lost !== undefined)
          // the session ended without an exit status: what golang.org/x/crypto/ssh's
          // Session.Wait returns then (ExitMissingError), wrapped as commandOutputs.go run() does
          reject(
            new Error(
              `wait: remote command exited without exit status or exit signal: running ${JSON.stringify(command.length > 200 ? command.slice(0, 200) + "..." : command)}:\n${trim(stdout)}\n${trim(lost)}`,
            ),
          );
        else
          reject(
            new Error(
              `Process exited with status ${code}: running ${JSON.stringify(command.length > 200 ? command.slice(0, 200) + "..." : command)}:\n${trim(stdout)}\n${trim(stderr)}`,
            ),
          );
      });
      p.stdin.end(i.stdin === undefined || i.stdin === null ? "" : String(i.stdin));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * When the OpenSSH client lost the connection (exit 255 and its own last words on stderr, e.g.
 * "Connection to 127.0.0.1 closed by remote host."), the command's stderr without them; else
 * undefined (exit 255 of the remote command itself).
 */
function connectionLost(stderr) {
  const m =
    /(^|\n)(Connection to \S+ closed by remote host\.|Read from remote host [^\n]*|client_loop: send disconnect: [^\n]*|Connection reset by [^\n]*|Broken pipe)\r?\n?$/.exec(
      stderr,
    );
  return m ? stderr.slice(0, m.index) + (m[1] ? "\n" : "") : undefined;
}

/** A command input that is set (the real provider's `*string` is non-nil). */
function given(v) {
  return v !== undefined && v !== null;
}

const INPUT_KEYS = [
  "connection",
  "create",
  "update",
  "delete",
  "environment",
  "stdin",
  "triggers",
  "logging",
  "addPreviousOutputInEnv",
];

function inputsOf(o) {
  return Object.fromEntries(INPUT_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

const impl = {
  version: "1.2.1",
  async check(_urn, _olds, news) {
    return { inputs: news };
  },
  async diff(_id, _urn, olds, news) {
    const changed =
      JSON.stringify(unwrap(inputsOf(olds))) !== JSON.stringify(unwrap(inputsOf(news)));
    const replaces =
      JSON.stringify(unwrap(olds.triggers || [])) !== JSON.stringify(unwrap(news.triggers || []))
        ? ["triggers"]
        : [];
    return { changes: changed, replaces };
  },
  async create(urn, inputs) {
    if (!/[:$]command:remote:Command::/.test(urn))
      throw new Error(`stand-in command provider: unsupported resource ${urn}`);
    const i = unwrap(inputs);
    const out = given(i.create)
      ? await runRemote(urn, inputs, i.create)
      : { stdout: "", stderr: "" };
    return {
      id: `${urn.split("::").pop()}${randomBytes(4).toString("hex")}`,
      outs: { ...inputs, ...out },
    };
  },
  async read(id, _urn, props) {
    // like the real provider: a command's state is what the last create/update recorded
    // (`pulumi refresh` does not run anything on the host)
    return { id, props };
  },
  async update(_id, urn, olds, news) {
    // like the real provider: `update` if set, else `create` again (never nothing when create is set)
    const i = unwrap(news);
    const command = given(i.update) ? i.update : given(i.create) ? i.create : undefined;
    const out =
      command !== undefined
        ? await runRemote(urn, news, command)
        : { stdout: olds.stdout || "", stderr: olds.stderr || "" };
    return { outs: { ...news, ...out } };
  },
  async delete(_id, urn, props) {
    const i = unwrap(props);
    if (given(i.delete)) await runRemote(urn, props, i.delete);
  },
};

module.exports = { impl };
// run as the plugin (pulumi-resource-command); required by a test, it only exports the methods
if (require.main === module) provider.main(impl, process.argv.slice(2));
