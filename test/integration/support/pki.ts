/**
 * kubeadm PKIs made by the built kubeadm (no hand-rolled openssl certificates):
 *  - makeEtcdPki: the etcd CA, server, peer and healthcheck-client certificates in a temp
 *    --cert-dir (`kubeadm init phase certs etcd-*` with a config file), for a TLS etcd on loopback;
 *  - makeKubeadmRoot: a whole control-plane node's /etc/kubernetes (certs, kubeconfigs, static pod
 *    manifests) inside a temp root, made by running kubeadm chrooted into it, with kubeadm copied
 *    to <root>/usr/local/bin/kubeadm (static binary) so a job's `chroot <root> kubeadm` finds it.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readVersions } from "../../cluster/cluster";
import { runOk } from "./tools";

/** Where the node "lives": a TEST-NET-1 address (not routed), only written into SANs. */
const NODE_ADDRESS = "192.0.2.10";

export interface KubeadmConfigOptions {
  readonly certificatesDir?: string;
  readonly nodeName?: string;
  /** `certificateValidityPeriod` (v1beta4, kubeadm >= 1.31), e.g. "240h". */
  readonly certificateValidityPeriod?: string;
  /** Lines appended under ClusterConfiguration (already indented as top-level keys). */
  readonly clusterExtra?: readonly string[];
}

/** A kubeadm v1beta4 InitConfiguration + ClusterConfiguration for the pinned version. */
export function kubeadmConfig(o: KubeadmConfigOptions = {}): string {
  return [
    "apiVersion: kubeadm.k8s.io/v1beta4",
    "kind: InitConfiguration",
    "localAPIEndpoint:",
    `  advertiseAddress: ${NODE_ADDRESS}`,
    "  bindPort: 6443",
    "nodeRegistration:",
    `  name: ${o.nodeName ?? "cp-1"}`,
    "---",
    "apiVersion: kubeadm.k8s.io/v1beta4",
    "kind: ClusterConfiguration",
    `kubernetesVersion: ${readVersions().kubernetes}`,
    // an endpoint that refuses connections at once: kubeadm never waits on a network
    "controlPlaneEndpoint: 127.0.0.1:1",
    ...(o.certificatesDir ? [`certificatesDir: ${o.certificatesDir}`] : []),
    ...(o.certificateValidityPeriod
      ? [`certificateValidityPeriod: ${o.certificateValidityPeriod}`]
      : []),
    ...(o.clusterExtra ?? []),
    "",
  ].join("\n");
}

export interface EtcdPki {
  readonly certDir: string;
  readonly ca: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly peerCert: string;
  readonly peerKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** kubeadm's etcd certificates under `<dir>/pki/etcd` (SANs: localhost, 127.0.0.1, ::1). */
export function makeEtcdPki(kubeadm: string, dir: string): EtcdPki {
  const certDir = join(dir, "pki");
  const config = join(dir, "kubeadm-etcd.yaml");
  writeFileSync(config, kubeadmConfig({ certificatesDir: certDir, nodeName: "etcd-test" }));
  for (const phase of ["etcd-ca", "etcd-server", "etcd-peer", "etcd-healthcheck-client"])
    runOk([kubeadm, "init", "phase", "certs", phase, "--config", config]);
  const e = join(certDir, "etcd");
  return {
    certDir,
    ca: join(e, "ca.crt"),
    caKey: join(e, "ca.key"),
    serverCert: join(e, "server.crt"),
    serverKey: join(e, "server.key"),
    peerCert: join(e, "peer.crt"),
    peerKey: join(e, "peer.key"),
    clientCert: join(e, "healthcheck-client.crt"),
    clientKey: join(e, "healthcheck-client.key"),
  };
}

export interface KubeadmRoot {
  readonly root: string;
  /** Inside the root. */
  readonly kubeadm: "/usr/local/bin/kubeadm";
  /** Inside the root: the kubeadm configuration the node was made with. */
  readonly config: "/etc/kubernetes/kubeadm-config.yaml";
  /** On the host: <root>/etc/kubernetes/manifests. */
  readonly manifestsDir: string;
  /** On the host: <root>/etc/kubernetes/pki. */
  readonly pkiDir: string;
  /** Runs kubeadm chrooted into the root; returns stdout. */
  kubeadmRun(args: readonly string[]): string;
}

/** PATH for chrooted commands (chroot looks the program up on PATH inside the new root). */
const CHROOT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/**
 * A kubeadm control-plane node's files in `root`: `kubeadm init phase certs all`, `kubeconfig
 * all`, `control-plane all` and `etcd local`, run as `chroot <root> kubeadm ... --config
 * /etc/kubernetes/kubeadm-config.yaml` (needs root).
 */
export function makeKubeadmRoot(
  kubeadm: string,
  root: string,
  o: KubeadmConfigOptions = {},
): KubeadmRoot {
  mkdirSync(join(root, "usr/local/bin"), { recursive: true });
  mkdirSync(join(root, "etc/kubernetes"), { recursive: true });
  mkdirSync(join(root, "tmp"), { recursive: true });
  copyFileSync(kubeadm, join(root, "usr/local/bin/kubeadm"));
  const config = "/etc/kubernetes/kubeadm-config.yaml" as const;
  writeFileSync(join(root, config), kubeadmConfig(o));
  const kubeadmRun = (args: readonly string[]) =>
    runOk(["/usr/sbin/chroot", root, "/usr/local/bin/kubeadm", ...args], {
      env: { ...process.env, PATH: CHROOT_PATH },
    });
  for (const phase of ["certs all", "kubeconfig all", "control-plane all", "etcd local"])
    kubeadmRun(["init", "phase", ...phase.split(" "), "--config", config]);
  return {
    root,
    kubeadm: "/usr/local/bin/kubeadm",
    config,
    manifestsDir: join(root, "etc/kubernetes/manifests"),
    pkiDir: join(root, "etc/kubernetes/pki"),
    kubeadmRun,
  };
}
