/**
 * How a submission's body arrives: split across reads, with a BOM, or cut off by a
 * client that leaves. Whatever the bytes do on the wire, the stored task is exactly what
 * was sent, or nothing is stored at all.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

const PLAIN = JSON.stringify({ model: "doubao-seedream-4.0", prompt: "a quiet harbour" });

describe("submission bodies on the wire", () => {
  let s: TestServer;
  let port = 0;

  beforeAll(async () => {
    s = await startTestServer({ DARKROOM_RUNNER: "false" });
    port = Number(new URL(s.url).port);
  });
  afterAll(() => s.stop());

  /** A submission announcing a body of `length` bytes; the caller writes it. */
  const openSubmission = (length: number) =>
    httpRequest({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/v1/images/generations",
      headers: {
        "content-type": "application/json",
        "content-length": length,
        authorization: `Bearer ${s.apiKey}`,
      },
    });

  /** POSTs `parts` as separate writes (a small pause between them), returns status and body. */
  function sendInParts(parts: Buffer[]): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = openSubmission(parts.reduce((n, p) => n + p.length, 0));
      req.on("response", (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      const writeFrom = (i: number) => {
        if (i === parts.length) return void req.end();
        req.write(parts[i]);
        setTimeout(() => writeFrom(i + 1), 10);
      };
      writeFrom(0);
    });
  }

  async function taskTotal(): Promise<number> {
    return (await s.api("/v1/tasks")).json.total as number;
  }

  it("takes a body whose UTF-8 arrives split inside a character, and stores the prompt whole", async () => {
    const body = Buffer.from(JSON.stringify({ model: "doubao-seedream-4.0", prompt: "🌅 über" }));
    const cut = body.indexOf(Buffer.from("🌅")) + 2; // inside the emoji's four bytes
    const r = await sendInParts([body.subarray(0, cut), body.subarray(cut)]);
    expect(r.status, r.text).toBe(200);
    const id = JSON.parse(r.text).id as string;
    const [claimed] = await s.dr.store.claimTasks("test", 1, 10_000, Date.now());
    expect(claimed?.task.id).toBe(id);
    expect(claimed?.task.request.prompt).toBe("🌅 über");
  });

  it("takes a BOM before the JSON", async () => {
    const r = await sendInParts([Buffer.from(`\ufeff${PLAIN}`)]);
    expect(r.status, r.text).toBe(200);
  });

  it("stores nothing for a client that goes away mid-body, and serves on", async () => {
    const before = await taskTotal();
    await new Promise<void>((resolve) => {
      const req = openSubmission(200);
      req.on("error", () => resolve());
      req.on("close", () => resolve());
      req.write(PLAIN.slice(0, 10), () => req.destroy());
    });
    expect((await s.api("/v1/images/generations", { body: JSON.parse(PLAIN) })).status).toBe(200);
    expect(await taskTotal()).toBe(before + 1);
  });
});
