/**
 * The web console (console/, built by Vite into dist/console): served at /console/ with a
 * strict Content-Security-Policy, and `/` sends a browser there. Hashed assets are cached
 * for a year (a new build has new names); index.html is revalidated every time so a new
 * build is picked up at once. When the console was not built, /console says how to build
 * it instead of failing at start: the API works without it.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";
import { ApiError } from "../../core/errors.js";

/** dist/console from the repository root: three folders up from src/http/routes and dist/http/routes alike. */
export const DEFAULT_CONSOLE_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "..",
  "dist",
  "console",
);

/**
 * Scripts, styles and fonts only from this origin and never inline; images from this
 * origin or https (result links are presigned S3 URLs when media lives in S3); API calls
 * only to this origin; never framed.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob: https:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const YEAR_SECONDS = 365 * 24 * 3600;

function secureHeaders(reply: FastifyReply): void {
  reply
    .header("content-security-policy", CONSOLE_CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin");
}

export interface ConsoleRouteOptions {
  /** Where the built console is (default dist/console). */
  dir?: string;
}

export function consoleRoutes(app: FastifyInstance, opts: ConsoleRouteOptions = {}): void {
  const dir = opts.dir ?? DEFAULT_CONSOLE_DIR;

  // Relative asset paths resolve against /console/, so both of these land there.
  app.get("/", async (_req, reply) => reply.redirect("/console/", 302));
  app.get("/console", async (_req, reply) => reply.redirect("/console/", 301));

  if (!existsSync(join(dir, "index.html"))) {
    const notBuilt = async () => {
      throw new ApiError(
        "not_found",
        "The console is not built: run `npm run build` (or `npm start`, which builds it).",
      );
    };
    app.get("/console/", notBuilt);
    app.get("/console/*", notBuilt);
    return;
  }

  // The static plugin serves /console/ through its wildcard; a route of its own keeps
  // the app's routes (and the OpenAPI document) the same whether the console was built.
  const indexFile = join(dir, "index.html");
  app.get("/console/", async (_req, reply) => {
    secureHeaders(reply);
    return reply
      .header("cache-control", "no-cache")
      .type("text/html; charset=utf-8")
      .send(await readFile(indexFile));
  });

  app.register(async (scope) => {
    await scope.register(fastifyStatic, {
      root: dir,
      prefix: "/console/",
      index: ["index.html"],
      decorateReply: false,
      // Answers carry our cache headers, not send's defaults.
      cacheControl: false,
      lastModified: true,
      etag: true,
      setHeaders(reply, path) {
        const immutable = path.startsWith(join(dir, "assets"));
        reply.header(
          "cache-control",
          immutable ? `public, max-age=${YEAR_SECONDS}, immutable` : "no-cache",
        );
      },
    });
    scope.addHook("onSend", async (_req, reply, payload) => {
      secureHeaders(reply);
      return payload;
    });
  });
}
