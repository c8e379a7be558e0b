/** The `darkroom` command line. Commands are thin: they call the same services the API calls. */
import { Command, Option } from "commander";
import { PROCESS_ROLES } from "../config/config.js";
import { CliError } from "./admin-client.js";
import { registerAdminCommands } from "./admin-commands.js";
import { registerChannelCommands } from "./channel-commands.js";
import { serve } from "./serve.js";

const program = new Command()
  .name("darkroom")
  .description("Self-hosted gateway for asynchronous AI image generation (EvoLink-compatible API).")
  .option("--url <url>", "server base URL for admin commands (env DARKROOM_URL)")
  .option("--token <token>", "admin token for admin commands (env DARKROOM_ADMIN_TOKEN)")
  .option("--json", "print JSON instead of tables");

program
  .command("serve")
  .description(
    "run the gateway: HTTP API, task runner and callbacks, or one role of them (configured by environment variables; see README)",
  )
  .addOption(
    new Option(
      "--role <role>",
      "what this process runs: api (HTTP API), worker (runner + callbacks), all (env DARKROOM_ROLE; default all)",
    ).choices(PROCESS_ROLES),
  )
  .action(serve);

registerAdminCommands(program);
registerChannelCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`darkroom: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof CliError ? 2 : 1);
});
