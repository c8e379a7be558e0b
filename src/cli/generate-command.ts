/**
 * `darkroom generate "<prompt>"`: submit to any Darkroom or EvoLink-compatible gateway,
 * wait with progress, download the images and print their paths. Local reference images
 * are uploaded through the file API first. The submission carries an Idempotency-Key, so
 * retrying it after a network error cannot create a second task.
 */
import { randomUUID } from "node:crypto";
import { InvalidArgumentError, Option, type Command } from "commander";
import { apiCall, resolveApiTarget, type ApiTargetFlags } from "./api-client.js";
import { CliError, EXIT } from "./exit-codes.js";
import type { TaskView } from "./progress.js";
import { readLocalImages, uploadImage } from "./upload.js";
import { waitAndSave } from "./wait-task.js";

export interface CliGlobals extends ApiTargetFlags {
  json?: boolean;
}

interface GenerateFlags {
  model: string;
  size?: string;
  quality?: string;
  n?: number;
  imageUrl?: string[];
  image?: string[];
  out: string;
  callbackUrl?: string;
  promptPriority?: string;
  filesUrl?: string;
  wait: boolean;
  interval: number;
  timeout?: number;
}

const collect = (v: string, all: string[] | undefined) => [...(all ?? []), v];

export function positiveNumber(what: string, integer = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(
        `${what} must be a positive ${integer ? "whole number" : "number"}.`,
      );
    return n;
  };
}

/** Options shared by the commands that wait for a task. */
export function addWaitOptions(cmd: Command): Command {
  return cmd
    .option("--out <dir>", "folder for the downloaded images (created if missing)", ".")
    .option(
      "--timeout <seconds>",
      "stop waiting after this long (exit 4; the task goes on)",
      positiveNumber("--timeout"),
    )
    .option("--interval <seconds>", "seconds between polls", positiveNumber("--interval"), 1);
}

export function registerGenerateCommand(program: Command): void {
  const cmd = program
    .command("generate")
    .description(
      "generate images: submit a task, show its progress, download the results and print their paths",
    )
    .argument("<prompt>", "what to draw")
    .option("--model <id>", "model id", "doubao-seedream-4.0")
    .option("--size <size>", "auto, a ratio (16:9), a tier (2K) or pixels (2048x2048)")
    .option("--quality <quality>", "1K, 2K or 4K (with a ratio size)")
    .option("--n <count>", "how many images, at most", positiveNumber("--n", true))
    .option("--image-url <url>", "reference image URL (repeatable)", collect)
    .option(
      "--image <file>",
      "local reference image, uploaded first (repeatable; JPEG, PNG, GIF, WebP)",
      collect,
    )
    .option("--callback-url <url>", "HTTPS URL the server POSTs the finished task to")
    .addOption(new Option("--prompt-priority <priority>", "standard or fast (model permitting)"))
    .option(
      "--files-url <url>",
      "base URL of the file API for --image (env DARKROOM_FILES_URL; default --url)",
    )
    .option("--no-wait", "print the task id and return at once");
  addWaitOptions(cmd).action(async (prompt: string, flags: GenerateFlags, self: Command) => {
    const g = self.optsWithGlobals<CliGlobals & GenerateFlags>();
    const local = await readLocalImages(flags.image ?? []);
    const t = resolveApiTarget({ url: g.url, key: g.key, filesUrl: flags.filesUrl });
    const uploaded: string[] = [];
    for (const image of local) uploaded.push(await uploadImage(t, image));
    const imageUrls = [...(flags.imageUrl ?? []), ...uploaded];
    const body = {
      model: flags.model,
      prompt,
      ...(flags.size === undefined ? {} : { size: flags.size }),
      ...(flags.quality === undefined ? {} : { quality: flags.quality }),
      ...(flags.n === undefined ? {} : { n: flags.n }),
      ...(imageUrls.length ? { image_urls: imageUrls } : {}),
      ...(flags.callbackUrl === undefined ? {} : { callback_url: flags.callbackUrl }),
      ...(flags.promptPriority === undefined ? {} : { prompt_priority: flags.promptPriority }),
    };
    const task = await apiCall<TaskView>(t, "POST", "/v1/images/generations", {
      body,
      idempotencyKey: `darkroom-cli-${randomUUID()}`,
    });
    if (typeof task?.id !== "string")
      throw new CliError("the server accepted the task but sent no task id", EXIT.unavailable);
    if (!flags.wait) {
      process.stdout.write((g.json ? JSON.stringify(task, null, 2) : task.id) + "\n");
      return;
    }
    if (!g.json) process.stderr.write(`task ${task.id}\n`);
    await waitAndSave(t, task, {
      outDir: flags.out,
      json: Boolean(g.json),
      intervalMs: flags.interval * 1000,
      ...(flags.timeout === undefined ? {} : { timeoutS: flags.timeout }),
    });
  });
}
