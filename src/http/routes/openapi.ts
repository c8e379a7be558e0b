/**
 * GET /openapi.json (the OpenAPI 3.1 document of this server, its configured models
 * included) and GET /docs (a page that renders it). Public: no credential, nothing
 * secret in either. Both are built once, on first request, and revalidated by ETag.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppDeps } from "../app.js";
import { docsPage } from "../openapi/docs-page.js";
import { buildOpenApiDocument } from "../openapi/document.js";

export type OpenApiRouteDeps = Pick<AppDeps, "catalogue" | "validateOptions">;

interface Cached {
  body: string;
  etag: string;
}

const cached = (body: string): Cached => ({
  body,
  etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
});

/** 304 when the client already has this body; otherwise the body with its validators. */
function answer(req: FastifyRequest, reply: FastifyReply, c: Cached, type: string) {
  reply.header("etag", c.etag).header("cache-control", "no-cache");
  const seen = req.headers["if-none-match"];
  if (typeof seen === "string" && seen.split(",").some((t) => t.trim() === c.etag)) {
    return reply.code(304).send();
  }
  return reply.type(type).send(c.body);
}

export function openApiRoutes(app: FastifyInstance, deps: OpenApiRouteDeps): void {
  let doc: Cached | null = null;
  let page: (Cached & { csp: string }) | null = null;

  app.get("/openapi.json", async (req, reply) => {
    doc ??= cached(
      JSON.stringify(
        buildOpenApiDocument({
          models: deps.catalogue.list(),
          allowHttpCallbacks: deps.validateOptions?.allowHttpCallbacks ?? false,
        }),
      ),
    );
    reply.header("access-control-allow-origin", "*");
    return answer(req, reply, doc, "application/json; charset=utf-8");
  });

  app.get("/docs", async (req, reply) => {
    if (!page) {
      const p = docsPage();
      page = { ...cached(p.html), csp: p.csp };
    }
    reply
      .header("content-security-policy", page.csp)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer");
    return answer(req, reply, page, "text/html; charset=utf-8");
  });
}
