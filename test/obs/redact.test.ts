/** Secrets never reach a log: signed links, keys, tokens, in URLs, fields and error text. */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/obs/logger.js";
import { redactText, redactUrl } from "../../src/obs/redact.js";

describe("redactUrl", () => {
  it("hides signatures and tokens in the query, keeps everything else", () => {
    expect(redactUrl("/files/images/t/0.jpg?exp=1764000000&sig=abcDEF123")).toBe(
      "/files/images/t/0.jpg?exp=1764000000&sig=[redacted]",
    );
    expect(
      redactUrl("/x?X-Amz-Signature=ff&X-Amz-Credential=AK%2F1&a=1&access_token=t&api_key=k"),
    ).toBe(
      "/x?X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]&a=1&access_token=[redacted]&api_key=[redacted]",
    );
    expect(redactUrl("/v1/tasks?status=pending&page=2")).toBe("/v1/tasks?status=pending&page=2");
    expect(redactUrl("/v1/tasks/task-unified-1-abc")).toBe("/v1/tasks/task-unified-1-abc");
  });
});

describe("redactText", () => {
  it("hides API keys, webhook secrets, bearer tokens and signed query values in free text", () => {
    const text =
      "upstream said 401 for Bearer dra-admin-secret-token at https://h/x?token=abc&b=2 " +
      "with sk-live0123456789abcdefghijklmnopqrstuv and whsec_c2VjcmV0c2VjcmV0";
    const out = redactText(text);
    expect(out).not.toMatch(/dra-admin-secret-token|abc&|0123456789abcdef|c2VjcmV0c2VjcmV0/);
    expect(out).toContain("Bearer [redacted]");
    expect(out).toContain("token=[redacted]&b=2");
    expect(out).toContain("sk-[redacted]");
    expect(out).toContain("whsec_[redacted]");
  });

  it("hides Google API keys (gemini channels)", () => {
    const out = redactText("API key AIzaSyD0123456789abcdefghijklmnopqrstu not valid");
    expect(out).toBe("API key AIza[redacted] not valid");
  });
});

describe("the logger", () => {
  it("redacts secret fields and secrets inside logged errors", () => {
    const lines: string[] = [];
    const log = createLogger(
      { logLevel: "info" },
      new Writable({
        write(chunk: Buffer, _e, done) {
          lines.push(chunk.toString("utf8"));
          done();
        },
      }),
    );
    log.info({ req: { headers: { authorization: "Bearer sk-abcdefghijklmnop" } } }, "a");
    log.info({ channel: { apiKey: "ark-key-123", token: "t0k3n" } }, "b");
    log.error({ err: new Error("fetch https://u/p?sig=s3cr3t failed (sk-abcdefghijklmnop)") }, "c");
    const all = lines.join("");
    expect(all).not.toMatch(/abcdefghijklmnop|ark-key-123|t0k3n|s3cr3t/);
    expect(all).toContain("[redacted]");
  });
});
