/** `darkroom serve`: run the gateway (API + runner) until SIGINT/SIGTERM. */
import { ConfigError, loadConfig } from "../config/config.js";
import { createLogger } from "../obs/logger.js";
import { startDarkroom } from "../server/darkroom.js";

export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`darkroom: configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config);
  const dr = await startDarkroom(config, log);
  const b = dr.bootstrap;
  if (b.created) {
    // Printed once, on the first start only: only hashes are stored.
    const lines = [
      "",
      "  Darkroom initialised a new database.",
      `  API:          ${dr.url}/v1`,
      b.generatedApiKey
        ? `  API key:      ${b.generatedApiKey}   (account "default")`
        : "  API key:      from DARKROOM_BOOTSTRAP_API_KEY",
      b.generatedAdminToken
        ? `  Admin token:  ${b.generatedAdminToken}`
        : "  Admin token:  from DARKROOM_ADMIN_TOKEN",
      "  These secrets are shown only now; store them somewhere safe.",
      "",
    ];
    process.stdout.write(lines.join("\n") + "\n");
  }
  let signals = 0;
  const shutdown = (signal: string) => {
    signals += 1;
    if (signals > 1) process.exit(1);
    log.info({ signal }, "shutting down");
    dr.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}
