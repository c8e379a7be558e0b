/**
 * The web console in a real browser (chromium through playwright-core) against a real
 * gateway with the sandbox provider: sign-in, a key created and shown once, a
 * playground generation to completion, revocation, a failed task's error, and that
 * no credential ever lands in a URL. A failing test leaves a screenshot in
 * test-artifacts/console/.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import type { Page } from "playwright-core";
import sharp from "sharp";
import {
  buildConsole,
  chromiumInstalled,
  launchBrowser,
  screenshot,
  type Browser,
} from "../helpers/browser.js";
import {
  defaultAccountId,
  request,
  startTestServer,
  TEST_ADMIN_TOKEN,
  TEST_API_KEY,
  type TestServer,
} from "../helpers/server.js";
import { makeTestCa, startReceiver, type Receiver, type TestCa } from "../webhooks/receiver.js";

const installed = chromiumInstalled();
const WAIT = { timeout: 30_000 };

describe.skipIf(!installed)("the web console in a browser", { timeout: 120_000 }, () => {
  let s: TestServer;
  /** An https callback receiver on loopback (the gateway trusts its test CA). */
  let ca: TestCa;
  let rx: Receiver;
  let built: { dir: string; remove(): void };
  let browser: Browser;
  let page: Page;
  /** Every URL the page asked for, and everything it logged as an error. */
  const requested: string[] = [];
  const pageErrors: string[] = [];
  /** Every line the server logged (at debug, with the access log on). */
  const logLines: string[] = [];
  /** Tasks the playground ran in this file: one completed, one failed. */
  const ran: { completed?: string; failed?: string } = {};
  /** Every API key the console showed during the run. */
  const keysSeen: string[] = [];

  beforeAll(async () => {
    built = await buildConsole();
    ca = makeTestCa();
    rx = await startReceiver(ca);
    s = await startTestServer(
      {
        LOG_LEVEL: "debug",
        DARKROOM_ACCESS_LOG: "true",
        DARKROOM_OUTBOUND_ALLOW: "127.0.0.1",
        DARKROOM_WEBHOOK_CA_FILE: ca.caFile,
      },
      { consoleDir: built.dir, logTo: { write: (line: string) => void logLines.push(line) } },
    );
    browser = await launchBrowser();
    page = browser.page;
    page.on("request", (r) => requested.push(r.url()));
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        pageErrors.push(m.text());
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await s?.stop();
    await rx?.close();
    ca?.remove();
    built?.remove();
  });

  const shootOnFailure = (name: string) =>
    onTestFailed(async () => {
      if (page) console.error(`screenshot: ${await screenshot(page, name)}`);
    });

  /** The page's address never holds a credential. */
  function expectNoSecretInUrl(): void {
    const url = page.url();
    for (const secret of [TEST_ADMIN_TOKEN, TEST_API_KEY, ...keysSeen])
      expect(url).not.toContain(secret);
  }

  it("serves the console with a strict CSP, long-cached assets and a fresh index", async () => {
    const root = await fetch(`${s.url}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/console/");

    const index = await request(`${s.url}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/text\/html/);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const csp = index.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:\/\/[a-z]/);
    // No inline script: every <script> has a src on this origin.
    expect(index.text).not.toMatch(/<script(?![^>]*\bsrc="\/console\/assets\/)[^>]*>/);

    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(index.text)?.[1];
    expect(asset).toBeDefined();
    const js = await request(`${s.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toMatch(/max-age=31536000, immutable/);
  });

  it("refuses a wrong admin token", async () => {
    shootOnFailure("wrong-token");
    await page.goto(`${s.url}/console/`);
    // The token field has the focus: a keyboard user can type at once.
    await page.getByLabel("Admin token").waitFor(WAIT);
    expect(await page.evaluate("document.activeElement && document.activeElement.id")).toBe(
      "admin-token",
    );
    await page.keyboard.type("dra-wrong-token-000000000000000000000");
    await page.keyboard.press("Enter");
    await page.getByRole("alert").getByText("That admin token was refused.").waitFor(WAIT);
    expect(await page.getByRole("navigation").count()).toBe(0);
    expectNoSecretInUrl();
  });

  it("signs in, creates a key, generates with it in the playground, then revokes it", async () => {
    shootOnFailure("key-and-playground");
    await page.getByLabel("Admin token").fill(TEST_ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor(WAIT);
    expectNoSecretInUrl();

    // Accounts → the bootstrap account → create a key: its secret is shown once.
    const accountId = await defaultAccountId(s);
    await page.getByRole("link", { name: "Accounts & keys" }).click();
    await page
      .getByRole("row", { name: new RegExp(accountId) })
      .getByRole("link")
      .click();
    await page.getByRole("heading", { name: "API keys" }).waitFor(WAIT);
    await page.getByLabel("Name", { exact: true }).fill("from-the-console");
    await page.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByLabel("Key", { exact: true });
    await shown.waitFor(WAIT);
    const key = await shown.inputValue();
    keysSeen.push(key);
    expect(key).toMatch(/^sk-[A-Za-z0-9_-]{32,}$/);
    const stored = (await s.admin.listKeys(accountId)).find((k) => key.startsWith(k.prefix));
    expect(stored?.name).toBe("from-the-console");
    expectNoSecretInUrl();

    await page.getByRole("button", { name: "Use in playground" }).click();
    await page.getByRole("heading", { name: "Playground" }).waitFor(WAIT);
    await page.getByText(`Using key ${key.slice(0, 10)}…`).waitFor(WAIT);
    expectNoSecretInUrl();

    // The contract's size checks run as the operator types.
    await page.getByLabel("Size").selectOption("custom");
    await page.getByLabel("Width (px)").fill("100");
    await page.getByLabel("Height (px)").fill("100");
    await page.getByText(/size 100x100 has 10000 pixels/).waitFor(WAIT);
    await page.getByLabel("Size").selectOption("1:1");
    await page.getByLabel("Quality").selectOption("1K");
    await page.getByText("1024 × 1024 pixels").waitFor(WAIT);

    await page.getByLabel("Prompt", { exact: true }).fill("a lighthouse at dusk");
    await page.getByLabel("Images (n)").fill("2");
    await page.getByText("Equivalent curl command").click();
    const curl = (await page.getByTestId("curl").textContent()) ?? "";
    expect(curl).toContain("Authorization: Bearer $DARKROOM_API_KEY");
    expect(curl).toContain(`${s.url}/v1/images/generations`);
    expect(curl).toContain('"n":2');
    expect(curl).toContain('"size":"1:1"');
    expect(curl).not.toContain(key);

    await page.getByRole("button", { name: "Generate" }).click();
    const run = page.locator("article.run").first();
    await page.locator('article.run[data-status="completed"]').waitFor(WAIT);
    const taskId = await run.getAttribute("data-task-id");
    expect(taskId).toMatch(/^task-unified-/);
    const images = run.locator(".gallery img");
    expect(await images.count()).toBe(2);
    for (let i = 0; i < 2; i++) {
      await images.nth(i).waitFor(WAIT);
      // The image really loaded (a broken one has no natural width).
      await page.waitForFunction(
        ([id, n]) => {
          const img = (
            globalThis as unknown as {
              document: {
                querySelectorAll(s: string): Array<{ naturalWidth: number; complete: boolean }>;
              };
            }
          ).document.querySelectorAll(`article[data-task-id="${id}"] .gallery img`)[n];
          return !!img && img.complete && img.naturalWidth > 0;
        },
        [taskId, i] as const,
        WAIT,
      );
    }
    const downloads = run.getByRole("link", { name: /Download image/ });
    expect(await downloads.count()).toBe(2);
    const task = await s.admin.findTask(taskId!);
    expect(task?.status).toBe("completed");
    ran.completed = taskId!;
    expect(task?.apiKeyId).toBe(stored?.id);

    // Revoke the key on its account's page: the store says so, and the playground's next
    // submission with it is refused.
    await page.getByRole("link", { name: "Accounts & keys" }).click();
    await page
      .getByRole("row", { name: new RegExp(accountId) })
      .getByRole("link")
      .click();
    const row = page.locator(`tr[data-key-id="${stored!.id}"]`);
    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByRole("button", { name: /Confirm revoke/ }).click();
    await row.getByText("revoked").waitFor(WAIT);
    expect((await s.admin.getKey(stored!.id))?.revokedAt).not.toBeNull();

    await page.getByRole("link", { name: "Playground" }).click();
    await page.getByLabel("Prompt", { exact: true }).fill("after revocation");
    await page.getByRole("button", { name: "Generate" }).click();
    await page.getByRole("alert").getByText("unauthorized").waitFor(WAIT);
    expectNoSecretInUrl();
  });

  it("shows a failed task's error", async () => {
    shootOnFailure("failed-task");
    await page.getByRole("button", { name: "Forget key" }).click();
    await page.getByLabel("Paste an API key").fill(TEST_API_KEY);
    await page.getByRole("button", { name: "Use key" }).click();
    await page
      .getByLabel("Prompt", { exact: true })
      .fill("[sandbox:fail=content_policy_violation] a cat");
    await page.getByRole("button", { name: "Generate" }).click();
    const failed = page.locator('article.run[data-status="failed"]').first();
    await failed.waitFor(WAIT);
    expect(await failed.locator(".error-code").textContent()).toBe("content_policy_violation");
    const id = await failed.getAttribute("data-task-id");
    expect((await s.admin.findTask(id!))?.status).toBe("failed");
    ran.failed = id!;
    expectNoSecretInUrl();
  });

  /** The files the test key's account holds on the server (GET /api/v1/files/list). */
  const serverFiles = async (): Promise<Array<{ original_name: string; file_url: string }>> =>
    (await request(`${s.url}/api/v1/files/list?pageSize=100`, { key: TEST_API_KEY })).json.data
      .files;

  it("uploads a picked reference image and generates with its file_url", async () => {
    shootOnFailure("upload-reference");
    await page.getByRole("link", { name: "Playground" }).click();
    await page.getByText(`Using key ${TEST_API_KEY.slice(0, 10)}…`).waitFor(WAIT);
    const png = await sharp({
      create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 80, b: 20 } },
    })
      .png()
      .toBuffer();

    // Keyboard only: the picker button takes the focus and Enter opens the file chooser.
    const picker = page.getByRole("button", { name: "Choose image files…" });
    await picker.focus();
    const chooser = page.waitForEvent("filechooser", WAIT);
    // Waiting for the event turns on the browser's file-chooser interception with a
    // command of its own; a round trip after it (commands run in order) makes sure it is
    // on before the key press, or the chooser opens natively and no event comes.
    await page.evaluate(() => true);
    await page.keyboard.press("Enter");
    await (await chooser).setFiles({ name: "swatch.png", mimeType: "image/png", buffer: png });

    const item = page.locator('.references li[data-status="uploaded"]');
    await item.waitFor(WAIT);
    const fileUrl = (await item.getAttribute("data-file-url"))!;
    const stored = (await serverFiles()).find((f) => f.original_name === "swatch.png");
    expect(stored?.file_url).toBe(fileUrl);
    // The thumbnail really shows the local file.
    await page.waitForFunction(
      () =>
        (
          globalThis as unknown as {
            document: { querySelector(s: string): { naturalWidth: number } | null };
          }
        ).document.querySelector(".references img")?.naturalWidth === 32,
      undefined,
      WAIT,
    );
    await page.getByText("Equivalent curl command").click();
    expect(await page.getByTestId("curl").textContent()).toContain(
      JSON.stringify({ image_urls: [fileUrl] }).slice(1, -1),
    );

    await page.getByLabel("Prompt", { exact: true }).fill("in the colours of this swatch");
    await page.getByRole("button", { name: "Generate" }).click();
    const run = page.locator("article.run").first();
    await page.locator('article.run[data-status="completed"]').first().waitFor(WAIT);
    const task = await s.admin.findTask((await run.getAttribute("data-task-id"))!);
    expect(task?.status).toBe("completed");
    expect(task?.request.imageUrls).toEqual([fileUrl]);

    // Remove takes it out of the request, and the focus goes back to the picker.
    await page.getByRole("button", { name: "Remove swatch.png" }).click();
    await item.waitFor({ state: "detached", ...WAIT });
    expect(await page.getByTestId("curl").textContent()).not.toContain(fileUrl);
    expect(
      await page.evaluate("document.activeElement && document.activeElement.textContent"),
    ).toBe("Choose image files…");
    expectNoSecretInUrl();
  });

  it("refuses a dropped text file named .png, and shows the server's refusal", async () => {
    shootOnFailure("upload-refused");
    const before = (await serverFiles()).length;
    const drop = async (name: string, bytes: number[]) => {
      const dataTransfer = await page.evaluateHandle(
        ([n, b]) => {
          const g = globalThis as unknown as {
            DataTransfer: new () => { items: { add(f: unknown): void } };
            File: new (parts: unknown[], name: string, opts: { type: string }) => unknown;
          };
          const dt = new g.DataTransfer();
          dt.items.add(new g.File([new Uint8Array(b)], n, { type: "image/png" }));
          return dt;
        },
        [name, bytes] as const,
      );
      await page.getByTestId("dropzone").dispatchEvent("drop", { dataTransfer });
    };

    // Text: refused here by its first bytes, before any upload.
    await drop("notes.png", [...Buffer.from("just some text, not an image")]);
    await page
      .getByRole("alert")
      .getByText("notes.png is not a JPEG, PNG, GIF or WebP image")
      .waitFor(WAIT);
    // A PNG signature over garbage passes the local check; the server's msg is shown.
    const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    await drop("broken.png", [...signature, ...Buffer.from("no chunks here at all")]);
    await page
      .getByRole("alert")
      .getByText("broken.png: The file could not be read as a PNG image. (HTTP 400)")
      .waitFor(WAIT);
    expect(await page.locator('.references li[data-status="refused"]').count()).toBe(2);
    expect((await serverFiles()).length).toBe(before);
    // Neither joined the request.
    expect(await page.getByTestId("curl").textContent()).not.toContain("image_urls");
  });

  it("lists tasks with filters and shows a failed task's timeline and error", async (ctx) => {
    shootOnFailure("tasks");
    // The admin task API (GET /admin/v1/tasks[/{id}]) came with its own change; a server
    // without it shows "not available", which the console's other tests already cover.
    const probe = await request(`${s.url}/admin/v1/tasks?limit=1`, { key: TEST_ADMIN_TOKEN });
    if (probe.status === 404) {
      console.warn(
        "\n!!! this server has no GET /admin/v1/tasks: the task pages test is SKIPPED\n",
      );
      ctx.skip();
    }
    expect(ran.completed && ran.failed).toBeTruthy();
    await page.getByRole("link", { name: "Tasks", exact: true }).click();
    await page.getByRole("link", { name: ran.failed! }).waitFor(WAIT);
    await page.getByRole("link", { name: ran.completed! }).waitFor(WAIT);
    // The completed task's thumbnail is a loaded image.
    const thumb = page.locator("tr", { has: page.getByRole("link", { name: ran.completed! }) });
    await thumb.locator("img").waitFor(WAIT);
    // At 1280 px (the browser's width here) every column fits: nothing to scroll sideways.
    expect(page.viewportSize()?.width).toBe(1280);
    const sideways = await page
      .locator(".table-wrap", { has: page.locator("table.tasks") })
      .evaluate((el) => el.scrollWidth - el.clientWidth);
    expect(sideways).toBeLessThanOrEqual(0);

    await page.getByLabel("Status").selectOption("failed");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("link", { name: ran.completed! }).waitFor({ state: "detached", ...WAIT });
    const statuses = await page.locator("table.tasks tbody .badge").allTextContents();
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(["failed"]));

    await page.getByRole("link", { name: ran.failed! }).click();
    await page.getByRole("heading", { name: `Task ${ran.failed}` }).waitFor(WAIT);
    await page.getByRole("alert").getByText("content_policy_violation").waitFor(WAIT);
    const timeline = await page.locator("ol.timeline li").allTextContents();
    expect(timeline[0]).toContain("submitted");
    expect(timeline.at(-1)).toContain("finished");
    expectNoSecretInUrl();
  });

  it("re-queues a failed webhook delivery", async () => {
    shootOnFailure("webhooks");
    // Four refusals fail the delivery (1 + 3 retries); the re-queued fifth is taken.
    rx.script("/console-hook", [500, 500, 500, 500, 204]);
    await page.getByRole("link", { name: "Playground" }).click();
    await page.getByLabel("Prompt", { exact: true }).fill("with a callback");
    await page.getByLabel("Callback URL").fill("http://example.com/hook");
    await page.getByText("The callback URL must be an https URL").waitFor(WAIT);
    await page.getByLabel("Callback URL").fill(`${rx.origin}/console-hook`);
    await page.getByRole("button", { name: "Generate" }).click();
    const run = page.locator("article.run").first();
    await page.locator('article.run[data-status="completed"]').first().waitFor(WAIT);
    const taskId = (await run.getAttribute("data-task-id"))!;
    const failed = async () =>
      (await request(`${s.url}/admin/v1/webhooks?task_id=${taskId}`, { key: TEST_ADMIN_TOKEN }))
        .json.data[0];
    // The retries take 1 + 2 + 4 s: wait for the store to say the delivery failed.
    for (let i = 0; i < 200 && (await failed())?.status !== "failed"; i++)
      await new Promise((r) => setTimeout(r, 100));
    const delivery = await failed();
    expect(delivery?.status).toBe("failed");

    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByLabel("Status").selectOption("failed");
    const row = page.locator("tr", { hasText: delivery.id });
    await row.getByRole("button", { name: "Re-queue" }).click();
    await page.getByText(`Delivery ${delivery.id} re-queued.`).waitFor(WAIT);
    for (let i = 0; i < 200 && (await failed())?.status !== "delivered"; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await failed())?.status).toBe("delivered");
    expect(rx.arrivals("/console-hook")).toHaveLength(5);
    await page.getByLabel("Status").selectOption("delivered");
    await page.locator("tr", { hasText: delivery.id }).getByText("delivered").waitFor(WAIT);
  });

  it("disables and enables a channel, and shows built-in ones as read-only", async () => {
    shootOnFailure("channels");
    const admin = (p: string, body?: unknown, method?: string) =>
      request(`${s.url}/admin/v1${p}`, { key: TEST_ADMIN_TOKEN, body, method });
    const made = await admin("/channels", {
      id: "console-sandbox",
      model: "doubao-seedream-4.5",
      provider: "sandbox",
      enabled: true,
    });
    expect(made.status, made.text).toBe(201);
    await page.getByRole("link", { name: "Channels" }).click();
    await page.getByRole("button", { name: "Disable channel console-sandbox" }).click();
    await page.getByRole("button", { name: "Enable channel console-sandbox" }).waitFor(WAIT);
    expect((await admin("/channels/console-sandbox")).json.enabled).toBe(false);
    await page.getByRole("button", { name: "Enable channel console-sandbox" }).click();
    await page.getByRole("button", { name: "Disable channel console-sandbox" }).waitFor(WAIT);
    expect((await admin("/channels/console-sandbox")).json.enabled).toBe(true);
    // A built-in channel has no toggle: it can only change in configuration.
    const builtin = page.locator("tr", { hasText: "sandbox:doubao-seedream-4.0" });
    await builtin.getByText("read-only (built in)").waitFor(WAIT);
    expect(await builtin.getByRole("button").count()).toBe(0);
  });

  it("fits a phone-sized screen", async () => {
    shootOnFailure("phone");
    await page.setViewportSize({ width: 375, height: 740 });
    for (const name of [
      "Overview",
      "Tasks",
      "Accounts & keys",
      "Channels",
      "Webhooks",
      "Playground",
    ]) {
      await page.getByRole("link", { name, exact: true }).click();
      await page.getByRole("heading", { level: 1 }).waitFor(WAIT);
      // Nothing pushes the page sideways: wide tables scroll inside their own box.
      expect(
        await page.evaluate(
          "document.documentElement.scrollWidth <= document.documentElement.clientWidth",
        ),
      ).toBe(true);
    }
  });

  it("never put a credential in a URL or a log line and broke no rule of its CSP", () => {
    expect(requested.length).toBeGreaterThan(10);
    // The access log saw the console's admin calls (so the log check below looks at them).
    expect(logLines.some((l) => l.includes("/admin/v1/accounts"))).toBe(true);
    for (const text of [...requested, ...logLines])
      for (const secret of [TEST_ADMIN_TOKEN, TEST_API_KEY, ...keysSeen])
        expect(text).not.toContain(secret);
    expect(pageErrors).toEqual([]);
  });
});
