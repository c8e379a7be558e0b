/**
 * image_urls end to end: a real Darkroom (the operator allow-list admits 127.0.0.1)
 * fetches reference images from a loopback image server in its runner; the sandbox
 * draws them as a thumbnail strip; a bad image fails the task and refunds it.
 */
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttp, type TestHttpServer } from "../net/servers.js";
import {
  ledgerInvariants,
  startTestServer,
  waitForTask,
  type TestServer,
} from "../helpers/server.js";

let s: TestServer;
let images: TestHttpServer;
let hanging = 0;

beforeAll(async () => {
  const red = await sharp({
    create: { width: 64, height: 64, channels: 3, background: "#ff0000" },
  })
    .png()
    .toBuffer();
  const tiny = await sharp({
    create: { width: 10, height: 10, channels: 3, background: "#00ff00" },
  })
    .png()
    .toBuffer();
  images = await startHttp({
    "/red.png": (_req, res) => res.end(red),
    "/tiny.png": (_req, res) => res.end(tiny),
    "/hang.png": (req) => {
      hanging++;
      req.on("close", () => hanging--);
    },
  });
  s = await startTestServer({ DARKROOM_OUTBOUND_ALLOW: "127.0.0.1/32" });
});
afterAll(async () => {
  await s?.stop();
  await images?.close();
});

const credits = async () => (await s.api("/v1/credits")).json.data.user;

describe("reference images through the real server", () => {
  it("completes with the reference drawn as a thumbnail strip", async () => {
    const submitted = await s.api("/v1/images/generations", {
      body: {
        model: "doubao-seedream-4.0",
        prompt: "a lake",
        size: "1024x1024",
        image_urls: [`${images.origin}/red.png`],
      },
    });
    expect(submitted.status).toBe(200);
    const { final } = await waitForTask(s, submitted.json.id);
    expect(final.status).toBe("completed");
    expect(images.hits).toContain("/red.png");
    const bytes = Buffer.from(await (await fetch(final.results[0])).arrayBuffer());
    // Bottom-left: the red 64x64 reference scaled into the strip (about 123 px high).
    const { data } = await sharp(bytes)
      .extract({ left: 50, top: 900, width: 60, height: 60 })
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(data[0]).toBeGreaterThan(200);
    expect(data[1]).toBeLessThan(60);
    expect(data[2]).toBeLessThan(60);
  });

  it("fails with image_processing_error naming the image, and refunds", async () => {
    const before = await credits();
    const submitted = await s.api("/v1/images/generations", {
      body: {
        model: "doubao-seedream-4.0",
        prompt: "a lake",
        size: "1024x1024",
        image_urls: [`${images.origin}/red.png`, `${images.origin}/tiny.png`],
      },
    });
    expect(submitted.status).toBe(200);
    const { final } = await waitForTask(s, submitted.json.id);
    expect(final.status).toBe("failed");
    expect(final.error).toEqual({
      code: "image_processing_error",
      message: "image_urls[1] is 10x10 pixels; both sides must be larger than 14 pixels.",
      type: "task_error",
    });
    expect(final.usage.credits_used).toBe(0);
    expect(await credits()).toEqual(before);
    await ledgerInvariants(s.admin);
  });

  it("a cancel while the reference is downloading stops the download and refunds", async () => {
    const before = await credits();
    const submitted = await s.api("/v1/images/generations", {
      body: {
        model: "doubao-seedream-4.0",
        prompt: "a lake",
        size: "1024x1024",
        image_urls: [`${images.origin}/hang.png`],
      },
    });
    const id = submitted.json.id as string;
    const until = async (cond: () => boolean, what: string) => {
      const deadline = Date.now() + 10_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(() => hanging === 1, "the download to start");
    expect((await s.api(`/v1/tasks/${id}/cancel`, { method: "POST" })).status).toBe(200);
    const { final } = await waitForTask(s, id);
    expect(final.error.code).toBe("request_cancelled");
    await until(() => hanging === 0, "the download to be dropped");
    expect(await credits()).toEqual(before);
  });

  it("a URL the allow-list does not cover is refused and refunded", async () => {
    const before = await credits();
    const submitted = await s.api("/v1/images/generations", {
      body: {
        model: "doubao-seedream-4.0",
        prompt: "a lake",
        size: "1024x1024",
        image_urls: ["http://127.0.0.2:8080/x.png"],
      },
    });
    expect(submitted.status).toBe(200);
    const { final } = await waitForTask(s, submitted.json.id);
    expect(final.error.code).toBe("image_processing_error");
    expect(final.error.message).toBe(
      "image_urls[0] could not be fetched: the URL's host is not allowed (loopback address).",
    );
    expect(await credits()).toEqual(before);
  });
});
