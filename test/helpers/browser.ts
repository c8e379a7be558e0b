/**
 * A real browser for the console's tests: Debian's chromium driven by playwright-core
 * (nothing downloaded), headless, with a fresh profile per launch. The console is built
 * by Vite into a temporary folder for the test file, so a test never runs a stale build.
 *
 * Without chromium the browser tests are skipped with a loud warning, except on CI
 * (CI=true), where a missing browser fails the run: CI never skips (.ci/run installs it).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env.DARKROOM_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Where failing tests leave screenshots (gitignored; CI keeps it as an artefact). */
export const ARTIFACTS_DIR = path.resolve("test-artifacts", "console");

/** Whether chromium is installed; on CI its absence is an error, elsewhere a loud skip. */
export function chromiumInstalled(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`chromium is not installed at ${CHROMIUM} on CI`);
  console.warn(
    `\n!!! chromium is not installed at ${CHROMIUM}: browser tests are SKIPPED ` +
      "(apt-get install -y chromium, or set DARKROOM_TEST_CHROMIUM)\n",
  );
  return false;
}

/** Builds console/ with its Vite config into a fresh temporary folder. */
export async function buildConsole(): Promise<{ dir: string; remove(): void }> {
  const { build } = await import("vite");
  const dir = mkdtempSync(path.join(tmpdir(), "darkroom-console-"));
  await build({
    configFile: path.resolve("console", "vite.config.ts"),
    logLevel: "error",
    build: { outDir: dir, emptyOutDir: true },
  });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Launches chromium headless on a fresh profile, with nothing that talks to the internet. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), "darkroom-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot of `page` under test-artifacts/console/. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, "-")}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
