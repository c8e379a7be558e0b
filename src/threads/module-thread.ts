/**
 * Starting a worker thread from a module next to the caller, whether Darkroom runs from
 * its build (`.js`) or from TypeScript sources (the tests, `npm run dev`), where the
 * thread loads the module through tsx like the main thread does.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/** `callerUrl` is the caller's `import.meta.url`; `name` the module's name without extension. */
export function startModuleThread(callerUrl: string, name: string, opts: WorkerOptions): Worker {
  const fromSources = callerUrl.endsWith(".ts");
  const target = new URL(`./${name}${fromSources ? ".ts" : ".js"}`, callerUrl);
  if (!fromSources) return new Worker(target, opts);
  const loader = tsxEsmApi(callerUrl);
  const bootstrap = `import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(target.href)}); });`;
  return new Worker(bootstrap, { ...opts, eval: true });
}

/** tsx's ESM API entry, read from its package's exports (the CommonJS one can't register from an eval'd thread). */
function tsxEsmApi(callerUrl: string): string {
  const require = createRequire(callerUrl);
  const pkgFile = require.resolve("tsx/package.json");
  const pkg = require(pkgFile) as {
    exports: Record<string, { import?: { default?: string } }>;
  };
  const entry = pkg.exports["./esm/api"]?.import?.default;
  if (!entry) throw new Error("tsx has no ESM API entry; cannot start a thread from sources");
  return pathToFileURL(path.join(path.dirname(pkgFile), entry)).href;
}
