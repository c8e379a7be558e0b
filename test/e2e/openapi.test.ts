/**
 * /openapi.json and /docs on a real server: the document is valid OpenAPI 3.1 (checked
 * by an independent validator), names every route the app registers and every route
 * and error code of the contract (docs/spec/api.md), and describes the models this
 * server was configured with.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  waitForTask,
  type ApiInit,
  type TestServer,
} from "../helpers/server.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const apiMd = readFileSync(path.resolve(here, "../../docs/spec/api.md"), "utf8");

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the document is walked freely
type Doc = any;

/** `/v1/tasks/:taskId`, `/v1/tasks/{task_id}` and `/files/*` name the same route shapes. */
const shape = (p: string) =>
  p
    .split("/")
    .map((s) => (s.startsWith(":") || /^\{.+\}$/.test(s) || s === "*" ? "{}" : s))
    .join("/");

let s: TestServer;
let configDir: string;
const registered: Array<{ method: string; url: string }> = [];

beforeAll(async () => {
  configDir = mkdtempSync(path.join(tmpdir(), "darkroom-openapi-"));
  const configFile = path.join(configDir, "darkroom.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      models: [{ id: "house-seedream", extends: "doubao-seedream-4.0", prompt_max_chars: 500 }],
    }),
  );
  s = await startTestServer(
    { DARKROOM_CONFIG: configFile },
    { onRoute: (r) => registered.push(r) },
  );
});

afterAll(async () => {
  await s?.stop();
  rmSync(configDir, { recursive: true, force: true });
});

/**
 * ajv over the document's components, so `#/components/schemas/…` references resolve.
 * `discriminator` is OpenAPI's hint for tools (ajv's own takes no `mapping`); each branch
 * pins `model` with `const`, which is what validates.
 */
function docAjv(doc: Doc, strict: boolean): Ajv2020 {
  const ajv = new Ajv2020({ strict });
  addFormats.default(ajv);
  ajv.addKeyword("components");
  ajv.addKeyword("discriminator");
  ajv.addSchema({ $id: "doc", components: doc.components });
  return ajv;
}

async function fetchDoc(): Promise<Doc> {
  const r = await request(`${s.url}/openapi.json`);
  expect(r.status).toBe(200);
  return r.json;
}

describe("GET /openapi.json", () => {
  it("is served without a key, revalidated by ETag", async () => {
    const r = await request(`${s.url}/openapi.json`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    const etag = r.headers.get("etag");
    expect(etag).toMatch(/^".+"$/);
    const again = await request(`${s.url}/openapi.json`, { headers: { "if-none-match": etag! } });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
    const other = await request(`${s.url}/openapi.json`, { headers: { "if-none-match": '"x"' } });
    expect(other.status).toBe(200);
    expect(other.text).toBe(r.text);
  });

  it("is valid OpenAPI 3.1, its references resolve and its schemas compile", async () => {
    const doc = await fetchDoc();
    expect(doc.openapi).toMatch(/^3\.1\./);
    const verdict = await new Validator().validate(structuredClone(doc));
    expect(verdict.errors ?? []).toEqual([]);
    expect(verdict.valid).toBe(true);

    const refs: string[] = [];
    const walk = (x: unknown): void => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === "object") {
        for (const [k, v] of Object.entries(x)) {
          if (k === "$ref" && typeof v === "string") refs.push(v);
          else walk(v);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of new Set(refs)) {
      const target = ref
        .replace(/^#\//, "")
        .split("/")
        .reduce((o: Doc, k) => o?.[k], doc);
      expect(target, ref).toBeDefined();
    }

    const ajv = docAjv(doc, true);
    for (const name of Object.keys(doc.components.schemas)) {
      expect(() => ajv.getSchema(`doc#/components/schemas/${name}`), name).not.toThrow();
    }
  });

  it("names every route the app registers, and only those", async () => {
    const doc = await fetchDoc();
    const documented = new Set<string>();
    for (const [p, item] of Object.entries(doc.paths as Record<string, object>)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${shape(p)}`);
    }
    const routes = new Set(
      registered
        .filter((r) => r.method !== "HEAD" && r.method !== "OPTIONS")
        .map((r) => `${r.method} ${shape(r.url)}`),
    );
    expect(routes.size).toBeGreaterThan(30);
    const missing = [...routes].filter((r) => !documented.has(r));
    expect(missing, "registered routes missing from the document").toEqual([]);
    const extra = [...documented].filter((r) => !routes.has(r));
    expect(extra, "documented routes the app does not serve").toEqual([]);
  });

  it("names every route of the contract", async () => {
    const doc = await fetchDoc();
    const routes = [...apiMd.matchAll(/\b(GET|POST|PUT|PATCH|DELETE) (\/[^\s`?]+)/g)].map(
      (m) => [m[1]!.toLowerCase(), m[2]!] as const,
    );
    expect(routes.length).toBeGreaterThanOrEqual(6);
    const byShape = new Map(Object.entries(doc.paths).map(([p, item]) => [shape(p), item]));
    for (const [method, p] of routes) {
      expect((byShape.get(shape(p)) as Doc)?.[method], `${method} ${p}`).toBeDefined();
    }
  });

  it("answers every error code of the contract with its HTTP status", async () => {
    const doc = await fetchDoc();
    // "| 404 | `model_not_found` |" in tables, "404 `task_not_found`" in prose.
    const named = [...apiMd.matchAll(/\b([1-5]\d\d)\s*\|?\s*`([a-z_]+)`/g)].map(
      (m) => [Number(m[1]), m[2]!] as const,
    );
    expect(named.length).toBeGreaterThanOrEqual(14);
    const answered = new Set<string>();
    const ops = Object.values(doc.paths as Record<string, Record<string, Doc>>).flatMap((item) =>
      Object.values(item),
    );
    for (const op of ops) {
      for (const [status, res] of Object.entries(op.responses as Record<string, Doc>)) {
        const fromRef = res.$ref ? [String(res.$ref).split("/").pop()] : [];
        const fromExamples = Object.keys(res.content?.["application/json"]?.examples ?? {});
        for (const code of [...fromRef, ...fromExamples]) answered.add(`${status} ${code}`);
      }
    }
    for (const [status, code] of named) {
      expect(answered.has(`${status} ${code}`), `${status} ${code}`).toBe(true);
    }
    // And the catalogue's own: every code has its response, with its status.
    const codes: string[] = doc.components.schemas.Error.properties.error.properties.code.enum;
    for (const [, code] of named) expect(codes).toContain(code);
    for (const code of codes) {
      expect(doc.components.responses[code]?.description, code).toMatch(/HTTP \d{3}/);
    }

    const business = apiMd.slice(apiMd.indexOf("Business codes for `error.code`"));
    const failureCodes = [...business.slice(0, business.indexOf("\n\n")).matchAll(/`([a-z_]+)`/g)]
      .map((m) => m[1]!)
      .filter((c) => c !== "error" && c !== "code");
    expect(failureCodes.length).toBeGreaterThanOrEqual(12);
    expect(doc.components.schemas.Task.properties.error.properties.code.enum).toEqual(
      expect.arrayContaining(failureCodes),
    );
  });

  it("describes the configured models, and its request schema judges like the server", async () => {
    const doc = await fetchDoc();
    const body = doc.components.schemas.GenerationRequest;
    expect(Object.keys(body.discriminator.mapping)).toEqual(
      expect.arrayContaining(["doubao-seedream-4.0", "gpt-image-1", "house-seedream"]),
    );
    const house = doc.components.schemas["GenerationRequest.house-seedream"];
    expect(house.properties.prompt.maxLength).toBe(500);

    const ajv = docAjv(doc, false);
    const check = ajv.getSchema("doc#/components/schemas/GenerationRequest")!;
    for (const prompt of ["a".repeat(500), "a".repeat(501)]) {
      const submission = { model: "house-seedream", prompt };
      const r = await s.api("/v1/images/generations", { body: submission });
      const accepted = r.status === 200 || (r.status !== 400 && r.json?.error?.param !== "prompt");
      expect(check(submission), `${prompt.length} characters`).toBe(accepted);
      expect(accepted).toBe(prompt.length <= 500);
    }
  });

  it("describes callbacks as an OpenAPI webhook with the Standard Webhooks headers", async () => {
    const doc = await fetchDoc();
    const post = doc.webhooks.taskFinished.post;
    expect(post.requestBody.content["application/json"].schema.$ref).toBe(
      "#/components/schemas/Task",
    );
    expect(post.parameters.map((p: Doc) => p.name).sort()).toEqual([
      "webhook-id",
      "webhook-signature",
      "webhook-timestamp",
    ]);
    expect(Object.keys(doc.components.securitySchemes)).toEqual(
      expect.arrayContaining(["apiKey", "adminToken"]),
    );
  });
});

describe("what the server answers is what the document says", () => {
  it("for the public and admin routes, successes and errors alike", async () => {
    const doc = await fetchDoc();
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    ajv.addSchema({ $id: "doc", components: doc.components, paths: doc.paths });
    const pointer = (...parts: string[]) =>
      parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
    const checked = new Set<string>();

    const call = async (method: string, p: string, init: ApiInit = {}) => {
      const r = await s.api(p, { method, ...init });
      const bare = p.split("?")[0]!;
      // A literal path (`/api/v1/files/quota`) before a template that also matches it.
      const template =
        Object.keys(doc.paths).find((t) => t === bare) ??
        Object.keys(doc.paths).find((t) =>
          new RegExp(`^${t.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(bare),
        );
      expect(template, `${method} ${bare} is documented`).toBeDefined();
      const where = `${method} ${p} → ${r.status}`;
      let res = doc.paths[template!][method.toLowerCase()]?.responses?.[String(r.status)];
      expect(res, `${where} is a documented answer`).toBeDefined();
      let at = pointer("paths", template!, method.toLowerCase(), "responses", String(r.status));
      if (res.$ref) {
        at = String(res.$ref).slice(2);
        res = doc.components.responses[String(res.$ref).split("/").pop()!];
      }
      const validate = ajv.getSchema(
        `doc#/${at}/${pointer("content", "application/json", "schema")}`,
      );
      expect(validate, `${where} has a JSON schema`).toBeDefined();
      expect(validate!(r.json), `${where}: ${JSON.stringify(validate!.errors)}`).toBe(true);
      checked.add(`${method} ${template} ${r.status}`);
      return r;
    };
    const admin = (method: string, p: string, body?: unknown) =>
      call(method, `/admin/v1${p}`, { key: TEST_ADMIN_TOKEN, ...(body ? { body } : {}) });

    const sub = await call("POST", "/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "a red kite", n: 2, size: "16:9" },
    });
    await waitForTask(s, sub.json.id);
    await call("GET", `/v1/tasks/${sub.json.id}`);
    await call("GET", "/v1/tasks?page_size=5");
    await call("POST", `/v1/tasks/${sub.json.id}/cancel`);
    await call("GET", "/v1/tasks/nope");
    await call("GET", "/v1/tasks/task-unified-1-zzzzzzzz");
    await call("POST", "/v1/images/generations", { body: { model: "doubao-seedream-4.0" } });
    await call("POST", "/v1/images/generations", { body: { model: "nope", prompt: "x" } });
    await call("GET", "/v1/models");
    await call("GET", "/v1/credits");
    await call("GET", "/v1/webhook-secret");
    await call("GET", "/v1/credits", { key: "sk-wrong" });
    await call("GET", "/healthz");
    await call("GET", "/readyz");

    const acct = await admin("POST", "/accounts", { name: "doc-check", credits: "10" });
    const id: string = acct.json.id;
    await admin("GET", `/accounts/${id}`);
    await admin("PATCH", `/accounts/${id}`, { disabled: false });
    await admin("POST", `/accounts/${id}/credits`, { amount: "2.5", reason: "doc check" });
    await admin("GET", "/accounts?page_size=2");
    await admin("GET", "/accounts/acct_missing");
    const key = await admin("POST", `/accounts/${id}/keys`, { name: "k", rpm_limit: 60 });
    await admin("GET", `/accounts/${id}/keys`);
    await admin("GET", `/keys/${key.json.id}`);
    await admin("PATCH", `/keys/${key.json.id}`, { credit_limit: "3" });
    await admin("POST", `/keys/${key.json.id}/revoke`);
    await admin("GET", "/groups");
    await admin("PUT", "/groups/gold", { multiplier: "0.8" });
    await admin("GET", "/models");
    await admin("PUT", "/models/doubao-seedream-4.0/price", { price: "1.8" });
    await admin("GET", "/ledger?page_size=3");
    await admin("GET", "/ledger/check");
    await admin("GET", "/status");
    // The console's task routes: each answer, success or refusal, as documented.
    const listed = await admin("GET", "/tasks?limit=1");
    expect(listed.json.data.map((t: { id: string }) => t.id)).toEqual([sub.json.id]);
    await admin("GET", "/tasks?status=done");
    const detail = await admin("GET", `/tasks/${sub.json.id}`);
    expect(detail.json.results).toHaveLength(2);
    await admin("GET", "/tasks/task-unified-1-zzzzzzzz");
    // Held in the sandbox until cancelled: the operator's cancel answers 200.
    const held = await call("POST", "/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "held [sandbox:delay=600000]" },
    });
    const cancelled = await admin("POST", `/tasks/${held.json.id}/cancel`);
    expect(cancelled.status).toBe(200);
    await waitForTask(s, held.json.id);
    const trail = await admin("GET", `/tasks/${held.json.id}`);
    expect(trail.json.error.code).toBe("request_cancelled");
    await admin("POST", `/tasks/${sub.json.id}/cancel`);
    await admin("POST", "/tasks/task-unified-1-zzzzzzzz/cancel");
    await admin("GET", "/stats?minutes=5");
    await admin("GET", "/stats?minutes=0");
    await call("GET", "/admin/v1/stats", { key: null });
    const channels = await admin("GET", "/channels");
    await admin("GET", `/channels/${channels.json.data[0].id}`);
    await admin("GET", "/webhooks");
    await admin("GET", `/accounts/${id}/webhook-secret`);
    await admin("POST", `/accounts/${id}/webhook-secret/rotate`);
    await admin("POST", "/accounts", { name: "" });

    // The file API: its own envelope, refusals included.
    const png = await sharp({
      create: { width: 16, height: 16, channels: 3, background: "#336699" },
    })
      .png()
      .toBuffer();
    const up = await call("POST", "/api/v1/files/upload/base64", {
      body: { base64_data: png.toString("base64"), upload_path: "docs" },
    });
    const form = new FormData();
    form.append("file", new Blob([png], { type: "image/png" }), "dot.png");
    form.append("fileName", "dot");
    const multipart = new Response(form);
    await call("POST", "/api/v1/files/upload/stream", {
      rawBody: Buffer.from(await multipart.arrayBuffer()),
      headers: { "content-type": multipart.headers.get("content-type")! },
    });
    await call("POST", "/api/v1/files/upload/stream", { body: { file: "x" } });
    await call("POST", "/api/v1/files/upload/base64", {
      body: { base64_data: "bm90IGFuIGltYWdl" },
    });
    await call("POST", "/api/v1/files/upload/url", { body: { file_url: "ftp://e.example/a.png" } });
    await call("GET", "/api/v1/files/list?page=1&pageSize=5");
    await call("GET", "/api/v1/files/list?pageSize=0");
    await call("GET", "/api/v1/files/quota");
    await call("GET", "/api/v1/files/quota", { key: "sk-wrong" });
    await call("DELETE", `/api/v1/files/${up.json.data.file_id}`);
    await call("DELETE", `/api/v1/files/${up.json.data.file_id}`);

    expect(checked.size).toBeGreaterThanOrEqual(56);
  });
});

describe("the console's routes", () => {
  it("answer the redirects and statuses the document gives", async () => {
    const doc = await fetchDoc();
    for (const [p, status] of [
      ["/", 302],
      ["/console", 301],
    ] as const) {
      const r = await fetch(`${s.url}${p}`, { redirect: "manual" });
      const documented = doc.paths[p].get.responses;
      expect(Object.keys(documented)).toContain(String(r.status));
      expect(r.status).toBe(status);
      expect(r.headers.get("location")).toBe("/console/");
      expect(documented[String(status)].headers.Location).toBeDefined();
    }
    // Built or not (`npm run build`), /console/ answers what the document says.
    const page = await request(`${s.url}/console/`, { key: null });
    const answers = doc.paths["/console/"].get.responses[String(page.status)];
    expect(answers, `GET /console/ → ${page.status}`).toBeDefined();
    if (page.status === 200) expect(page.headers.get("content-type")).toMatch(/^text\/html/);
  });
});

describe("GET /docs", () => {
  it("is a page of ours under a strict CSP that pins its one script and style", async () => {
    const r = await request(`${s.url}/docs`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = r.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    const scripts = [...r.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const styles = [...r.text.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect(csp).toContain(`script-src ${hash(scripts[0]!)}`);
    expect(csp).toContain(`style-src ${hash(styles[0]!)}`);
    // Nothing loaded from elsewhere: no external src or href, the document fetched relatively.
    expect(r.text).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(scripts[0]).toContain('fetch("openapi.json"');
    const again = await request(`${s.url}/docs`, {
      headers: { "if-none-match": r.headers.get("etag")! },
    });
    expect(again.status).toBe(304);
  });

  // The CSP must let the page's own script run and fetch the document: render it in a
  // real browser (Debian's chromium, when installed) and read the resulting DOM.
  const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
  it.skipIf(!chromium)("renders every operation in a real browser", async () => {
    const profile = mkdtempSync(path.join(tmpdir(), "darkroom-docs-chromium-"));
    try {
      const { stdout } = await promisify(execFile)(
        chromium!,
        [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          `--user-data-dir=${profile}`,
          "--virtual-time-budget=10000",
          "--dump-dom",
          `${s.url}/docs`,
        ],
        { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      );
      const doc = await fetchDoc();
      const sections = stdout.match(/<section class="op"/g) ?? [];
      const operations = Object.values(doc.paths as Record<string, object>).reduce(
        (n, item) => n + Object.keys(item).length,
        0,
      );
      // One section per operation, and one for the callback.
      expect(sections.length).toBe(operations + 1);
      expect(stdout).toContain("/v1/images/generations");
      expect(stdout).toContain("house-seedream");
      expect(stdout).not.toContain("[object ");
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
