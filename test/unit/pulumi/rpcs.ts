/**
 * Waits until the Pulumi SDK has no registration in flight: ClusterUpgrade registers its node
 * resources once its plan is made, after the calls a test awaits may have returned; a test file
 * that ends before them leaves the SDK working after jest tore the environment down.
 */
import * as settings from "@pulumi/pulumi/runtime/settings";

export function waitForRPCs(): Promise<void> {
  return (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}
