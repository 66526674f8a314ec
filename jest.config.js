/**
 * Three projects:
 *  - unit: pure logic and graph shape (may use pulumi setMocks), no external components
 *  - integration: real etcd / kube-apiserver / kubeadm binaries and the local kwok control plane
 *  - e2e: the real Pulumi engine
 * Run with NODE_OPTIONS=--experimental-vm-modules (scripts/test.sh sets it) so jest can load
 * the ESM-only @kubernetes/client-node.
 */
const tsJest = ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false } }];
const moduleNameMapper = {
  "^kube-upkeep$": "<rootDir>/lib/index.ts",
  "^kube-upkeep/(.*)$": "<rootDir>/lib/$1",
};
/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: "unit",
      testMatch: ["<rootDir>/test/unit/**/*.test.ts"],
      transform: { "^.+\\.ts$": tsJest },
      testEnvironment: "node",
      moduleNameMapper,
    },
    {
      displayName: "integration",
      testMatch: ["<rootDir>/test/integration/**/*.test.ts"],
      transform: { "^.+\\.ts$": tsJest },
      testEnvironment: "node",
      moduleNameMapper,
      globalSetup: "<rootDir>/test/cluster/global-setup.ts",
      globalTeardown: "<rootDir>/test/cluster/global-teardown.ts",
    },
    {
      // `pulumi up` of the demo program through the real engine; each file starts its own
      // simulated cluster and sshd (test/e2e/simulated-cluster.ts), so no globalSetup
      displayName: "e2e",
      testMatch: ["<rootDir>/test/e2e/**/*.test.ts"],
      transform: { "^.+\\.ts$": tsJest },
      testEnvironment: "node",
      moduleNameMapper,
    },
  ],
};
