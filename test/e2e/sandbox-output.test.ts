/**
 * The sandbox end to end: any prompt the API admits renders (markup, emoji, RTL, CJK,
 * noncharacters, text with no ink at all), and seedream 5.0 lite's
 * `model_params.output_format` decides the encoding of the downloaded result.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, waitForTask, type TestServer } from "../helpers/server.js";

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.stop();
});

async function download(url: string) {
  const res = await fetch(url);
  const bytes = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    length: Number(res.headers.get("content-length")),
    bytes,
    meta: await sharp(bytes).metadata(),
  };
}

describe("sandbox prompts", () => {
  const prompts = {
    "markup, emoji, RTL and line breaks":
      "<b>&amp;</b> <span foreground='red'>&#0;</span> 🦊👨‍👩‍👧 שלום עולם مرحبا\t\r\nend",
    "Chinese, Japanese, Korean and emoji": "猫 ねこ 고양이 😺 a cat 🦊",
    noncharacters: "a\ufffed\uffffe\u{1fffe}f",
    "nothing visible to draw": "\u200b\u200c\u2060",
  };
  for (const [name, prompt] of Object.entries(prompts)) {
    it(`completes a task whose prompt has ${name}`, async () => {
      const sub = await s.api("/v1/images/generations", {
        body: { model: "doubao-seedream-4.0", prompt, size: "1024x1024" },
      });
      expect(sub.status).toBe(200);
      const { final } = await waitForTask(s, sub.json.id);
      expect(final.error).toBeUndefined();
      expect(final.status).toBe("completed");
      const img = await download(final.results[0]);
      expect([img.status, img.meta.format, img.meta.width, img.meta.height]).toEqual([
        200,
        "jpeg",
        1024,
        1024,
      ]);
    });
  }
});

describe("seedream 5.0 lite output_format", () => {
  const run = async (modelParams?: Record<string, unknown>) => {
    const sub = await s.api("/v1/images/generations", {
      body: {
        model: "doubao-seedream-5.0-lite",
        prompt: "a lighthouse at dusk",
        size: "2560x1440",
        ...(modelParams ? { model_params: modelParams } : {}),
      },
    });
    expect(sub.status).toBe(200);
    const { final } = await waitForTask(s, sub.json.id);
    expect(final.status).toBe("completed");
    return { url: final.results[0] as string, img: await download(final.results[0]) };
  };

  it("png gives a PNG served as image/png at the exact size", async () => {
    const { url, img } = await run({ output_format: "png" });
    expect(new URL(url).pathname).toMatch(/-0\.png$/);
    expect(img.status).toBe(200);
    expect(img.type).toBe("image/png");
    expect(img.bytes.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    expect(img.length).toBe(img.bytes.length);
    expect([img.meta.format, img.meta.width, img.meta.height]).toEqual(["png", 2560, 1440]);
  });

  it("jpeg, and no model_params at all, give a JPEG served as image/jpeg", async () => {
    for (const params of [{ output_format: "jpeg" }, undefined]) {
      const { url, img } = await run(params);
      expect(new URL(url).pathname).toMatch(/-0\.jpg$/);
      expect(img.type).toBe("image/jpeg");
      expect(img.bytes.subarray(0, 3).toString("hex")).toBe("ffd8ff");
      expect([img.meta.format, img.meta.width, img.meta.height]).toEqual(["jpeg", 2560, 1440]);
    }
  });
});
