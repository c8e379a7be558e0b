/**
 * The JSON error shape where Fastify would answer with its own body: unparseable HTTP
 * (raw bytes over a real socket), bad URLs and over-long path parameters, requests that
 * arrive while the server shuts down; and the JSON body parser (empty bodies, prototype
 * poisoning, deep nesting).
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN, startTestServer, type TestServer } from "../helpers/server.js";

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests index freely into JSON bodies
  json: any;
  body: string;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1", () => resolve(sock));
    sock.once("error", reject);
  });
}

/** Everything the server sends until it closes the connection (bounded by a deadline). */
function readUntilClosed(sock: Socket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the server kept the connection open: ${Buffer.concat(chunks).toString()}`));
    }, timeoutMs);
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("error", () => undefined);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

function parseOne(raw: string): RawResponse {
  const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
  const [statusLine, ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const len = Number(headers["content-length"]);
  const start = raw.indexOf("\r\n\r\n") + 4;
  const body = raw.slice(start, Number.isFinite(len) ? start + len : undefined);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, json, body };
}

/** Sends raw bytes on a fresh connection and returns the (last) response before close. */
async function rawExchange(port: number, bytes: string): Promise<RawResponse> {
  const sock = await openSocket(port);
  const done = readUntilClosed(sock);
  sock.write(bytes);
  const raw = await done;
  expect(raw, "a response before the connection closed").toMatch(/^HTTP\/1\.1 /);
  return parseOne(raw);
}

function expectContractError(r: RawResponse, status: number, code: string) {
  expect(r.status, r.body).toBe(status);
  expect(r.headers["content-type"]).toMatch(/^application\/json/);
  expect(Object.keys(r.json)).toEqual(["error"]);
  expect(r.json.error.code).toBe(code);
  expect(typeof r.json.error.message).toBe("string");
  expect(typeof r.json.error.type).toBe("string");
  expect(r.body).not.toMatch(/statusCode|FST_ERR|Bad Request|Client Error/);
}

let s: TestServer;
let port: number;
beforeAll(async () => {
  s = await startTestServer({ DARKROOM_RUNNER: "false" });
  port = portOf(s.url);
});
afterAll(() => s.stop());

describe("HTTP that node's parser rejects", () => {
  it("a malformed request line is 400 invalid_request JSON, then the connection closes", async () => {
    const r = await rawExchange(port, "THIS IS NOT HTTP\r\n\r\n");
    expectContractError(r, 400, "invalid_request");
    expect(r.headers.connection).toBe("close");
    expect(r.headers["x-request-id"]).toBeTruthy();
  });

  it("a bad Content-Length is 400 invalid_request JSON", async () => {
    for (const cl of ["abc", "-1", "1, 2"]) {
      const r = await rawExchange(
        port,
        `POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${cl}\r\n\r\n{}`,
      );
      expectContractError(r, 400, "invalid_request");
      expect(r.json.error.message).toMatch(/Content-Length/);
      expect(r.headers.connection).toBe("close");
    }
  });

  it("headers over 16 KB are 431 with the JSON shape", async () => {
    const r = await rawExchange(
      port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expectContractError(r, 431, "request_too_large");
    expect(r.headers.connection).toBe("close");
  });
});

describe("URLs the router refuses", () => {
  const auth = () => `Authorization: Bearer ${s.apiKey}\r\n`;

  it("bad percent-encoding in the path is 400 invalid_request, not echoing the path", async () => {
    const r = await rawExchange(
      port,
      `GET /v1/tasks/task-unified-%zzSECRETPATH HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`,
    );
    expectContractError(r, 400, "invalid_request");
    expect(r.body).not.toContain("SECRETPATH");
    expect(r.headers["x-request-id"]).toBeTruthy();
  });

  it("a task id over 100 characters is 400 invalid_task_id, not 414 echoing the path", async () => {
    const longId = `task-unified-${"x".repeat(200)}`;
    for (const [method, p] of [
      ["GET", `/v1/tasks/${longId}`],
      ["POST", `/v1/tasks/${longId}/cancel`],
    ] as const) {
      const r = await s.api(p, { method });
      expect(r.status, `${method} ${p}`).toBe(400);
      expect(r.json.error).toMatchObject({ code: "invalid_task_id", param: "task_id" });
      expect(r.text).not.toContain("xxxxxxxxxx");
      expect(r.headers.get("x-request-id")).toBeTruthy();
    }
  });

  it("an over-long parameter elsewhere is 400 invalid_request", async () => {
    const r = await s.api(`/admin/v1/keys/${"k".repeat(300)}`, { key: TEST_ADMIN_TOKEN });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("invalid_request");
    expect(r.text).not.toContain("kkkkkkkkkk");
  });
});

describe("JSON bodies", () => {
  const json = { "content-type": "application/json" };

  it("cancel with Content-Type: application/json and an empty body cancels the task", async () => {
    const t = await s.api("/v1/images/generations", {
      body: { model: "doubao-seedream-4.0", prompt: "to cancel" },
    });
    expect(t.status, t.text).toBe(200);
    const r = await s.api(`/v1/tasks/${t.json.id}/cancel`, { rawBody: "", headers: json });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ status: "failed", error: { code: "request_cancelled" } });
  });

  it("an admin POST without a body but with the JSON content type works (key revoke)", async () => {
    const accounts = await s.api("/admin/v1/accounts", { key: TEST_ADMIN_TOKEN });
    const accountId = accounts.json.data[0].id as string;
    const created = await s.api(`/admin/v1/accounts/${accountId}/keys`, {
      key: TEST_ADMIN_TOKEN,
      body: {},
    });
    expect(created.status, created.text).toBe(200);
    const r = await s.api(`/admin/v1/keys/${created.json.id}/revoke`, {
      key: TEST_ADMIN_TOKEN,
      rawBody: "",
      headers: json,
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json.revoked_at ?? r.json.revoked).toBeTruthy();
  });

  it("a submission with an empty body is still 400 invalid_request, param body", async () => {
    const r = await s.api("/v1/images/generations", { rawBody: "", headers: json });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_request", param: "body" });
  });

  it("prototype-poisoning keys are refused with a message that says so", async () => {
    for (const raw of [
      '{"model":"doubao-seedream-4.0","prompt":"p","__proto__":{"x":1}}',
      '{"model":"doubao-seedream-4.0","prompt":"p","a":{"constructor":{"prototype":{"x":1}}}}',
    ]) {
      const r = await s.api("/v1/images/generations", { rawBody: raw, headers: json });
      expect(r.status, raw).toBe(400);
      expect(r.json.error).toMatchObject({ code: "invalid_request", param: "body" });
      expect(r.json.error.message).toMatch(/__proto__/);
      expect(r.json.error.message).not.toMatch(/not valid JSON/);
    }
    const bad = await s.api("/v1/images/generations", { rawBody: "{", headers: json });
    expect(bad.json.error.message).toMatch(/not valid JSON/);
  });

  it("a 400 KB deeply nested unknown field with an Idempotency-Key is hashed, not a 500", async () => {
    const depth = 80_000;
    const deep = '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
    const raw = `{"model":"doubao-seedream-4.0","prompt":"deep","extra":${deep}}`;
    expect(raw.length).toBeGreaterThan(400_000);
    const headers = { ...json, "idempotency-key": "deep-body-1" };
    const first = await s.api("/v1/images/generations", { rawBody: raw, headers });
    expect(first.status, first.text.slice(0, 300)).toBe(200);
    const again = await s.api("/v1/images/generations", { rawBody: raw, headers });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotency-replayed")).toBe("true");
    expect(again.json.id).toBe(first.json.id);
  });

  it("a 1 MB deeply nested array is parsed without crashing (and refused as not an object)", async () => {
    const depth = 500_000;
    const raw = "[".repeat(depth) + "]".repeat(depth);
    const r = await s.api("/v1/images/generations", {
      rawBody: raw,
      headers: { ...json, "idempotency-key": "deep-array-1" },
    });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "invalid_request", param: "body" });
    expect((await s.api("/healthz", { key: null })).status).toBe(200);
  });
});

describe("while shutting down", () => {
  it("a request in flight during close is answered with Connection: close; one pipelined after it is not served", async () => {
    const own = await startTestServer({ DARKROOM_RUNNER: "false" });
    const ownPort = portOf(own.url);
    // A connection with a request under way is not idle, so close() does not reap it:
    // request 1 waits for its body, and "100 Continue" shows the server has routed it.
    const sock = await openSocket(ownPort);
    const continued = new Promise<void>((ok) =>
      sock.on("data", (c: Buffer) => {
        if (c.toString().startsWith("HTTP/1.1 100")) ok();
      }),
    );
    const done = readUntilClosed(sock);
    sock.write(
      "POST /v1/nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    );
    await continued;
    const stopped = own.stop();
    // Closing has begun once the listening socket refuses new connections.
    const deadline = Date.now() + 5_000;
    for (;;) {
      const refused = await openSocket(ownPort).then(
        (c) => (c.destroy(), false),
        () => true,
      );
      if (refused) break;
      if (Date.now() > deadline) throw new Error("the server never stopped listening");
      await new Promise((ok) => setTimeout(ok, 10));
    }
    // Request 1's body, then request 2, which arrives while the server is closing.
    sock.write("{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const raw = await done;
    const responses = raw.split(/(?=HTTP\/1\.1 \d{3} )/);
    // Request 1 is answered and told the connection ends (so a draining server is not
    // held open by idle keep-alive connections); request 2 is the client's to retry
    // elsewhere. A request that does reach a closing server gets 503 JSON
    // (request-pipeline.test.ts, "shutdown").
    expect(responses.map((x) => Number(x.slice(9, 12)))).toEqual([100, 404]);
    const r = parseOne(responses[1]!);
    expectContractError(r, 404, "not_found");
    expect(r.headers.connection).toBe("close");
    await stopped;
  });
});
