/**
 * The CLI's exit codes, one per kind of outcome a script may want to branch on, and the
 * error that carries one. Admin commands keep their old behaviour: every refusal is 2.
 */
export const EXIT = {
  ok: 0,
  /** Usage errors, local checks, and the server's 4xx refusals of the input (400, 404, 409, 413). */
  badInput: 2,
  /** The task ended failed or cancelled. */
  taskFailed: 3,
  /** Unreachable server, timeouts, 5xx and rate limits that outlasted the retries. */
  unavailable: 4,
  /** 401 or 403: the key is missing, wrong, revoked or not allowed this model. */
  auth: 5,
  /** 402: not enough credits. */
  credits: 6,
  /** Ctrl-C (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.badInput,
  ) {
    super(message);
  }
}

/** The exit code for an HTTP refusal (not for 2xx). */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 402) return EXIT.credits;
  if (status === 408 || status === 429 || status >= 500) return EXIT.unavailable;
  return EXIT.badInput;
}

export const EXIT_CODES_HELP = `
Exit codes (generate, tasks):
  0    success
  2    bad input: usage, a local check, or the server refused the request (400, 404, 409, 413)
  3    the task failed or was cancelled
  4    network or server trouble: unreachable, timed out, 5xx, rate limited after retries
  5    authentication: the API key is missing, wrong or not allowed (401, 403)
  6    insufficient credits (402)
  130  interrupted (Ctrl-C); the task goes on, resume with \`darkroom tasks wait <id>\`
Admin commands exit 2 on any refusal.`;
