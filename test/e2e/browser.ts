/**
 * A real browser for the e2e tests: Debian's chromium (`apt-get install -y chromium`) driven by
 * playwright-core, headless, no sandbox (the tests run as root). playwright-core never
 * downloads a browser; a missing chromium fails the test with the install command.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { REPO_ROOT } from "../cluster/cluster";

export const CHROMIUM = process.env.KU_CHROMIUM ?? "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}: install Debian's (as root: apt-get update && apt-get install -y chromium), or set KU_CHROMIUM`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--headless"],
  });
}

/** Where tests leave files to look at (screenshots): $KU_TEST_OUTPUT or <repo>/test-output/<what>. */
export function testOutputDir(what: string): string {
  const dir = join(process.env.KU_TEST_OUTPUT ?? join(REPO_ROOT, "test-output"), what);
  mkdirSync(dir, { recursive: true });
  return dir;
}
