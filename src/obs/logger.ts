/**
 * The process's logger: structured JSON (pino), with secrets redacted wherever they
 * could appear: known fields by path, and credential-shaped text inside error messages
 * and stacks (an upstream's error may quote a URL with a token in it).
 */
import pino, { type DestinationStream, type Logger } from "pino";
import { redactText } from "./redact.js";

/** `destination` defaults to stdout; tests pass their own to read what was logged. */
export function createLogger(
  options: { logLevel: string },
  destination?: DestinationStream,
): Logger {
  const settings: pino.LoggerOptions = {
    level: options.logLevel,
    base: { service: "darkroom" },
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'req.headers["x-api-key"]',
        "headers.authorization",
        "*.apiKey",
        "*.adminToken",
        "*.secret",
        "*.token",
      ],
      censor: "[redacted]",
    },
    serializers: { err: serializeError },
  };
  return destination ? pino(settings, destination) : pino(settings);
}

function serializeError(err: unknown): unknown {
  if (typeof err !== "object" || err === null) return err;
  const plain = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  for (const field of ["message", "stack"]) {
    if (typeof plain[field] === "string") plain[field] = redactText(plain[field]);
  }
  return plain;
}
