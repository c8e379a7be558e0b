/**
 * The CLI's retries, against a loopback server that fails on purpose: a submission with
 * an Idempotency-Key is repeated with the same key after a 503 or a dropped connection;
 * one without a key is sent once.
 */
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiCall, type ApiTarget } from "../../src/cli/api-client.js";
import { CliError, EXIT } from "../../src/cli/exit-codes.js";
import { startHttp, type TestHttpServer } from "../net/servers.js";

let server: TestHttpServer;
/** Per path: what each attempt does, in order; the last repeats. */
const plans: Record<string, Array<"503" | "drop" | "ok">> = {};
const seen: Array<{ path: string; idempotencyKey: string | undefined }> = [];

beforeAll(async () => {
  const route = (path: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ path, idempotencyKey: req.headers["idempotency-key"] as string | undefined });
    const attempt = seen.filter((s) => s.path === path).length;
    const plan = plans[path]!;
    const step = plan[Math.min(attempt, plan.length) - 1];
    req.resume();
    if (step === "drop") return void res.socket?.destroy();
    res.writeHead(step === "ok" ? 200 : 503, {
      "content-type": "application/json",
      ...(step === "503" ? { "retry-after": "0" } : {}),
    });
    res.end(
      JSON.stringify(
        step === "ok"
          ? { id: "task-unified-1-abcdefgh", status: "pending" }
          : {
              error: { code: "service_unavailable", message: "No upstream.", type: "api_error" },
            },
      ),
    );
  };
  plans["/a/v1/images/generations"] = ["503", "drop", "ok"];
  plans["/b/v1/images/generations"] = ["503", "ok"];
  server = await startHttp({
    "/a/v1/images/generations": route("/a/v1/images/generations"),
    "/b/v1/images/generations": route("/b/v1/images/generations"),
  });
});
afterAll(() => server?.close());

const target = (prefix: string): ApiTarget => ({
  url: `${server.origin}${prefix}`,
  filesUrl: server.origin,
  key: "sk-test-retry",
});

describe("CLI retries", () => {
  it("repeats a submission that carries an Idempotency-Key, with the same key", async () => {
    const task = await apiCall<{ id: string }>(target("/a"), "POST", "/v1/images/generations", {
      body: { prompt: "x" },
      idempotencyKey: "darkroom-cli-fixed",
    });
    expect(task.id).toBe("task-unified-1-abcdefgh");
    const attempts = seen.filter((s) => s.path === "/a/v1/images/generations");
    expect(attempts.map((a) => a.idempotencyKey)).toEqual([
      "darkroom-cli-fixed",
      "darkroom-cli-fixed",
      "darkroom-cli-fixed",
    ]);
  });

  it("sends a POST without one once, and a 503 is exit code 4 with the server's message", async () => {
    const err = await apiCall(target("/b"), "POST", "/v1/images/generations", {
      body: { prompt: "x" },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.unavailable);
    expect((err as CliError).message).toBe("No upstream. (HTTP 503 service_unavailable)");
    expect(seen.filter((s) => s.path === "/b/v1/images/generations")).toHaveLength(1);
  });
});
