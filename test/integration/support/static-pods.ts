/**
 * A stand-in for the kubelet's static pod handling, enough to run a kubeadm node's etcd for
 * real: it polls <root>/etc/kubernetes/manifests like the kubelet's file source, runs the etcd
 * pod's command (chroot <root>, so the manifest's own paths apply) while etcd.yaml is there,
 * stops it when the file goes away and restarts it when the file changes. Other manifests
 * (kube-apiserver, ...) are only watched.
 *
 * Like a real kubelet, etcd's data must be on a hostPath volume: the pod is refused (event
 * "refused ...") unless its --data-dir lies under a volumeMount whose hostPath volume has the
 * same path, so a manifest edit that would leave the data inside the container is caught.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

interface PodManifest {
  metadata: { name: string };
  spec: {
    containers: {
      command: string[];
      volumeMounts?: { name: string; mountPath: string }[];
    }[];
    volumes?: { name: string; hostPath?: { path: string } }[];
  };
}

export class MiniKubelet {
  /** What happened, in order: "start etcd --data-dir=...", "stop etcd", "refused etcd: ...". */
  readonly events: string[] = [];
  /** Manifest file names seen in each poll that differed from the previous one. */
  readonly listings: string[][] = [];
  private child?: ChildProcess;
  private childExit?: Promise<void>;
  private runningHash?: string;
  private timer?: NodeJS.Timeout;
  private busy = false;
  readonly manifestsDir: string;
  readonly logFile: string;

  constructor(
    readonly root: string,
    private readonly pollMs = 300,
  ) {
    this.manifestsDir = join(root, "etc/kubernetes/manifests");
    mkdirSync(join(root, "var/log"), { recursive: true });
    this.logFile = join(root, "var/log/etcd.log");
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.pollMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 50));
    await this.stopEtcd(false);
  }

  /** etcd's command line while it runs. */
  runningArgs(): string[] | undefined {
    return this.child ? (this.child.spawnargs ?? []).slice(3) : undefined;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8") : "";
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const files = existsSync(this.manifestsDir) ? readdirSync(this.manifestsDir).sort() : [];
      const last = this.listings[this.listings.length - 1];
      if (!last || last.join(" ") !== files.join(" ")) this.listings.push(files);
      const path = join(this.manifestsDir, "etcd.yaml");
      if (!files.includes("etcd.yaml")) {
        await this.stopEtcd(true);
        return;
      }
      const text = readFileSync(path, "utf8");
      const hash = createHash("sha256").update(text).digest("hex");
      if (hash === this.runningHash && this.child) return;
      if (this.child) await this.stopEtcd(true);
      this.runningHash = hash;
      const pod = parse(text) as PodManifest;
      const container = pod.spec.containers[0];
      const refused = this.checkDataDirMount(pod);
      if (refused) {
        this.events.push(`refused etcd: ${refused}`);
        return;
      }
      const fd = openSync(this.logFile, "a");
      const child = spawn(
        "/usr/sbin/chroot",
        [this.root, "/usr/local/bin/etcd", ...container.command.slice(1)],
        { stdio: ["ignore", fd, fd] },
      );
      closeSync(fd);
      this.child = child;
      this.childExit = new Promise((res) =>
        child.on("exit", () => {
          if (this.child === child) this.child = undefined;
          res();
        }),
      );
      const dataDir = container.command.find((a) => a.startsWith("--data-dir="));
      this.events.push(`start etcd ${dataDir}`);
    } finally {
      this.busy = false;
    }
  }

  private checkDataDirMount(pod: PodManifest): string | undefined {
    const c = pod.spec.containers[0];
    const dataDir = c.command.find((a) => a.startsWith("--data-dir="))?.slice("--data-dir=".length);
    if (!dataDir) return "no --data-dir";
    const mount = (c.volumeMounts ?? []).find(
      (m) => dataDir === m.mountPath || dataDir.startsWith(m.mountPath + "/"),
    );
    if (!mount) return `--data-dir=${dataDir} is not on any volumeMount (the data would be lost)`;
    const volume = (pod.spec.volumes ?? []).find((v) => v.name === mount.name);
    if (!volume?.hostPath || volume.hostPath.path !== mount.mountPath)
      return `volume ${mount.name} mounted at ${mount.mountPath} is hostPath ${volume?.hostPath?.path}, not the same directory`;
    return undefined;
  }

  private async stopEtcd(record: boolean): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await this.childExit;
    clearTimeout(t);
    this.child = undefined;
    this.runningHash = undefined;
    if (record) this.events.push("stop etcd");
  }
}
