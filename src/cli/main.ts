/** The `darkroom` command line. Commands are thin: they call the same services the API calls. */
import { Command, CommanderError, Option } from "commander";
import { PROCESS_ROLES } from "../config/config.js";
import { registerAdminCommands } from "./admin-commands.js";
import { registerChannelCommands } from "./channel-commands.js";
import { CliError, EXIT, EXIT_CODES_HELP } from "./exit-codes.js";
import { registerGenerateCommand } from "./generate-command.js";
import type { ServeOptions } from "./serve.js";
import { registerTaskCommands } from "./task-commands.js";

const program = new Command()
  .name("darkroom")
  .description("Self-hosted gateway for asynchronous AI image generation (EvoLink-compatible API).")
  .option("--url <url>", "server base URL (env DARKROOM_URL)")
  .option("--token <token>", "admin token for admin commands (env DARKROOM_ADMIN_TOKEN)")
  .option("--key <key>", "API key for generate and tasks (env DARKROOM_API_KEY)")
  .option("--json", "print JSON instead of tables")
  .addHelpText("after", EXIT_CODES_HELP)
  // Usage errors exit 2 like other bad input, not commander's default 1.
  .exitOverride();

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
  // Loaded on use: the server's modules (sharp, drivers) would slow every other command's start.
  .action(async (o: ServeOptions) => (await import("./serve.js")).serve(o));

registerGenerateCommand(program);
registerTaskCommands(program);
registerAdminCommands(program);
registerChannelCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // Commander has printed its own message (or the help) already.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.badInput);
  process.stderr.write(`darkroom: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
});
