/**
 * Local control plane for humans:
 *   npm run cluster:up   [-- <name>]  build missing binaries, start (or reuse) the cluster, print its kubeconfig
 *   npm run cluster:down [-- <name>]  delete it
 *   node --import tsx test/cluster/cli.ts status [<name>]
 * Default name: kube-upkeep. Run the integration tests against it with KU_KUBECONFIG=<printed path>.
 */
import {
  DEV_CLUSTER_NAME,
  buildMissing,
  clusterInfo,
  isClusterReady,
  listClusters,
  missingBinaries,
  startCluster,
  stopCluster,
  type ClusterInfo,
} from "./cluster";

const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

function print(info: ClusterInfo): void {
  process.stdout.write(
    [
      `cluster:    ${info.name}`,
      `kubeconfig: ${info.kubeconfigPath}`,
      `apiserver:  ${info.apiserverUrl}`,
      `etcd:       ${info.etcdUrl} (prefix ${info.etcdPrefix}, plain http, no client certs)`,
      `logs:       ${info.logsDir}`,
      "",
      `  export KUBECONFIG=${info.kubeconfigPath}`,
      `  KU_KUBECONFIG=${info.kubeconfigPath} npm test   # integration tests against this cluster`,
      "",
    ].join("\n"),
  );
}

async function main(argv: string[]): Promise<number> {
  const [cmd, name = DEV_CLUSTER_NAME] = argv;
  switch (cmd) {
    case "up": {
      const existing = clusterInfo(name);
      if (existing && (await isClusterReady(existing))) {
        log(`${name} is already running`);
        print(existing);
        return 0;
      }
      if (missingBinaries().length > 0) {
        log("building missing binaries first (test/cluster/build.sh)");
        await buildMissing("inherit");
      }
      print(await startCluster({ name, log }));
      return 0;
    }
    case "down":
      await stopCluster(name);
      log(`${name} deleted`);
      return 0;
    case "status": {
      const names = argv[1] ? [name] : listClusters();
      for (const n of names) {
        const info = clusterInfo(n);
        if (!info) continue;
        process.stdout.write(
          `${n}: ${(await isClusterReady(info)) ? "ready" : "not ready"} ${info.kubeconfigPath}\n`,
        );
      }
      return 0;
    }
    default:
      process.stderr.write("usage: cli.ts up|down|status [name]\n");
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
