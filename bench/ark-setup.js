// The benchmarks' upstream, set up once: the Ark emulator (bench/ark-emulator.ts) as a
// child process, and a gateway config with one `ark` channel pointing at it. Shared by
// bench/runner.js, bench/inflight.js and bench/pg-cluster.js.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { startArkProcess } from "./lib.js";

/** The emulator's key; a gateway using the channel needs it in its env as ARK_API_KEY. */
export const ARK_KEY = "ark-bench-key";
/** The public model the channel serves. */
export const ARK_MODEL = "doubao-seedream-4.0";

/**
 * Starts the emulator; `env` adds its settings (ARK_RENDER_SIDE, ARK_ANSWER_LOG…),
 * `onLine` gets each line it prints after its URL. Resolves to { child, url }.
 */
export function startArk(root, env = {}, onLine) {
  return startArkProcess(root, { ARK_API_KEY: ARK_KEY, ...env }, onLine);
}

/**
 * Writes `dir`/config.json with one channel on the emulator at `arkUrl`; `channel`
 * overrides its fields (max_concurrency, timeout_ms…). Returns the file's path.
 */
export function writeArkConfig(dir, arkUrl, channel = {}) {
  const file = path.join(dir, "config.json");
  writeFileSync(
    file,
    JSON.stringify({
      channels: [
        {
          id: "ark-bench",
          model: ARK_MODEL,
          provider: "ark",
          base_url: arkUrl,
          api_key_env: "ARK_API_KEY",
          upstream_model: "doubao-seedream-4-0-250828",
          max_concurrency: 1000,
          ...channel,
        },
      ],
    }),
  );
  return file;
}
