/**
 * `darkroom generate` and `darkroom tasks` against a real gateway (sandbox provider),
 * spawned as users run them (not a TTY here: the plain-lines mode), plus, for `--image`,
 * a stub of EvoLink's file API and the gateway's own (/api/v1/files). Exit codes are
 * the contract scripts rely on.
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import type http from "node:http";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sniffImageFormat } from "../../src/media/image-format.js";
import { startTestServer, TEST_API_KEY, waitForTask, type TestServer } from "../helpers/server.js";
import { startHttp, type TestHttpServer } from "../net/servers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Each CLI run is a new process (seconds on a loaded machine); a test makes up to eight.
const SLOW = 240_000;
// An absolute loader URL: a run from another folder (relative paths) still finds tsx.
const tsx = pathToFileURL(createRequire(path.join(root, "package.json")).resolve("tsx")).href;
let s: TestServer;
let files: TestHttpServer;
let work: string;
let red: Buffer;
/** What the stub file API received, per upload. */
const uploads: Array<{ contentType: string; name: string; bytes: Buffer; auth: string }> = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from sources (tsx, found from the repository) in `cwd` (default the repository); `onStderr` sees stderr as it comes (to send signals on cue). */
function cli(
  args: string[],
  env: Record<string, string> = {},
  onStderr?: (soFar: string, child: ReturnType<typeof spawn>) => void,
  cwd = root,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", tsx, path.join(root, "src/cli/main.ts"), ...args],
      {
        cwd,
        env: { ...process.env, DARKROOM_URL: s.url, DARKROOM_API_KEY: TEST_API_KEY, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      onStderr?.(stderr, child);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The stub answers exactly the documented shape of EvoLink's stream upload. */
async function uploadRoute(req: http.IncomingMessage, res: http.ServerResponse) {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const form = await new Response(Buffer.concat(chunks), {
    headers: { "content-type": req.headers["content-type"] ?? "" },
  }).formData();
  const file = form.get("file");
  if (!(file instanceof Blob)) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ success: false, code: 400, msg: "file is required", data: null }));
    return;
  }
  const bytes = Buffer.from(await file.arrayBuffer());
  const name = (file as File).name;
  uploads.push({ contentType: file.type, name, bytes, auth: req.headers.authorization ?? "" });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      success: true,
      code: 200,
      msg: "ok",
      data: {
        file_id: "file_abc123",
        file_name: "file_abc123.png",
        original_name: name,
        file_size: bytes.length,
        mime_type: file.type,
        upload_path: "uploads",
        file_url: `${files.origin}/stored/file_abc123.png`,
        download_url: `${files.origin}/stored/file_abc123.png?download=1`,
        upload_time: "2026-12-06T12:00:00Z",
        expires_at: "2026-12-09T12:00:00Z",
      },
    }),
  );
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "darkroom-cli-"));
  red = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#ff0000" } })
    .png()
    .toBuffer();
  files = await startHttp({
    "/api/v1/files/upload/stream": (req, res) => void uploadRoute(req, res),
    "/stored/file_abc123.png": (_req, res) => res.end(red),
  });
  // The stub's file_url is on loopback: the operator allow-list lets the runner fetch it.
  s = await startTestServer({ DARKROOM_OUTBOUND_ALLOW: "127.0.0.1/32" });
}, SLOW);
afterAll(async () => {
  await s?.stop();
  await files?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A loopback port nothing listens on (fetch refuses low ports such as 9 outright). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

const taskCount = async () => (await s.api("/v1/tasks?page_size=1")).json.total as number;

describe("darkroom generate", () => {
  it(
    "generates, prints progress lines, downloads valid images and never overwrites one",
    async () => {
      const out = path.join(work, "out");
      const r = await cli([
        "generate",
        "a lake at dawn",
        "--size",
        "1024x1024",
        "--n",
        "2",
        "--out",
        out,
        "--interval",
        "0.1",
      ]);
      expect(r.code, r.stderr).toBe(0);
      const id = /^task (task-unified-\S+)$/m.exec(r.stderr)![1]!;
      // Not a TTY: one plain line per change, ending with the task completed.
      const lines = r.stderr.trim().split("\n").slice(1);
      for (const line of lines)
        expect(line).toMatch(new RegExp(`^${id} (pending|processing|completed) \\d+%`));
      expect(lines.at(-1)).toBe(`${id} completed 100%`);
      expect(new Set(lines).size).toBe(lines.length);

      const paths = r.stdout.trim().split("\n");
      const server = (await s.api(`/v1/tasks/${id}`)).json;
      expect(paths).toHaveLength(server.results.length);
      for (const [i, p] of paths.entries()) {
        expect(p).toBe(path.join(out, `${id}-${i}.jpg`));
        const bytes = readFileSync(p);
        expect(sniffImageFormat(bytes)).toBe("jpeg");
        expect(await sharp(bytes).metadata()).toMatchObject({ width: 1024, height: 1024 });
      }

      // Waiting again for the same task saves beside the first files, not over them.
      const before = statSync(paths[0]!).mtimeMs;
      const again = await cli(["tasks", "wait", id, "--out", out]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout.trim().split("\n")).toEqual(
        paths.map((p) => p.replace(/\.jpg$/, "-1.jpg")),
      );
      expect(statSync(paths[0]!).mtimeMs).toBe(before);
    },
    SLOW,
  );

  it(
    "exits 3 with the task's error when the task fails",
    async () => {
      const r = await cli(["generate", "[sandbox:fail=content_policy_violation] a lake"]);
      expect(r.code, r.stderr).toBe(3);
      const id = /^task (task-unified-\S+)$/m.exec(r.stderr)![1]!;
      const server = (await s.api(`/v1/tasks/${id}`)).json;
      expect(server.status).toBe("failed");
      expect(r.stderr).toContain(`${server.error.message} (content_policy_violation)`);
      expect(r.stdout).toBe("");
    },
    SLOW,
  );

  it(
    "exits 2 with the server's message for a bad size, 5 for a bad key, 4 when unreachable",
    async () => {
      const direct = await s.api("/v1/images/generations", {
        body: { model: "doubao-seedream-4.0", prompt: "x", size: "10x10" },
      });
      expect(direct.status).toBe(400);
      const bad = await cli(["generate", "x", "--size", "10x10"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(direct.json.error.message);
      expect(bad.stderr).toContain("param size");

      const wrongKey = "sk-wrong00000000000000000000000000000000000";
      const auth = await cli(["generate", "x"], { DARKROOM_API_KEY: wrongKey });
      expect(auth.code).toBe(5);
      expect(auth.stderr + auth.stdout).not.toContain(wrongKey);

      const closed = await closedPort();
      const down = await cli(["tasks", "list"], { DARKROOM_URL: `http://127.0.0.1:${closed}` });
      expect(down.code).toBe(4);
      expect(down.stderr).toContain(
        `cannot reach http://127.0.0.1:${closed}: connect ECONNREFUSED`,
      );
      expect(down.stderr).not.toContain(TEST_API_KEY);
    },
    SLOW,
  );

  it(
    "uploads a local image as multipart through the file API and uses its file_url",
    async () => {
      const png = path.join(work, "red.png");
      writeFileSync(png, red);
      const text = path.join(work, "notes.png");
      writeFileSync(text, "not an image, whatever the name says");
      const tasksBefore = await taskCount();

      const refused = await cli(["generate", "x", "--image", text, "--files-url", files.origin]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/only JPEG, PNG, GIF and WebP/);
      expect(uploads).toHaveLength(0);
      expect(await taskCount()).toBe(tasksBefore);

      const out = path.join(work, "edited");
      const r = await cli([
        "generate",
        "the same, at night",
        "--size",
        "1024x1024",
        "--image",
        png,
        "--files-url",
        files.origin,
        "--out",
        out,
        "--interval",
        "0.1",
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(uploads).toHaveLength(1);
      expect(uploads[0]).toMatchObject({
        contentType: "image/png",
        name: "red.png",
        auth: `Bearer ${TEST_API_KEY}`,
      });
      expect(uploads[0]!.bytes.equals(red)).toBe(true);
      // The gateway fetched the uploaded file as a reference image.
      expect(files.hits).toContain("/stored/file_abc123.png");
      expect(existsSync(r.stdout.trim())).toBe(true);
    },
    SLOW,
  );

  it(
    "uploads ./local.png to the gateway's own file API, which reads it from storage",
    async () => {
      // Default outbound rules (loopback refused): a fetch of the file_url would fail the task.
      const own = await startTestServer();
      try {
        const dir = path.join(work, "cwd");
        mkdirSync(dir);
        writeFileSync(path.join(dir, "local.png"), red);
        const stubUploads = uploads.length;
        const env = { DARKROOM_URL: own.url, DARKROOM_FILES_URL: "" };
        const r = await cli(
          ["generate", "the same, in snow", "--size", "1024x1024", "--image", "./local.png"],
          env,
          undefined,
          dir,
        );
        expect(r.code, r.stderr).toBe(0);
        expect(uploads).toHaveLength(stubUploads);

        // The gateway holds the upload, byte for byte, under the file's own name.
        const listed = (await own.api("/api/v1/files/list")).json.data;
        expect(listed.files).toHaveLength(1);
        const file = listed.files[0];
        expect(file).toMatchObject({ original_name: "local.png", mime_type: "image/png" });
        expect(Buffer.from(await (await fetch(file.file_url)).arrayBuffer()).equals(red)).toBe(
          true,
        );
        const id = /^task (task-unified-\S+)$/m.exec(r.stderr)![1]!;
        expect((await own.api(`/v1/tasks/${id}`)).json.status).toBe("completed");
        // Saved in the folder the CLI ran in (the path it prints may be relative to it).
        const saved = path.resolve(dir, r.stdout.trim());
        expect(path.dirname(saved)).toBe(dir);
        expect(existsSync(saved)).toBe(true);

        // The control: a loopback URL that is not an upload is fetched, and refused.
        const fetched = await own.api("/v1/images/generations", {
          body: {
            model: "doubao-seedream-4.0",
            prompt: "x",
            image_urls: [`${files.origin}/stored/file_abc123.png`],
          },
        });
        expect(fetched.status, fetched.text).toBe(200);
        const { final } = await waitForTask(own, fetched.json.id);
        expect(final.status).toBe("failed");
      } finally {
        await own.stop();
      }
    },
    SLOW,
  );
});

describe("darkroom tasks", () => {
  it(
    "gets, lists, times out waiting, cancels, and a wait on the cancelled task exits 3",
    async () => {
      const submitted = await cli(["generate", "[sandbox:delay=120000] slow", "--no-wait"]);
      expect(submitted.code, submitted.stderr).toBe(0);
      const id = submitted.stdout.trim();
      const server = (await s.api(`/v1/tasks/${id}`)).json;

      const got = await cli(["tasks", "get", id]);
      expect(got.code, got.stderr).toBe(0);
      expect(got.stdout).toMatch(new RegExp(`^id\\s+${id}$`, "m"));
      const created = new Date(server.created * 1000).toISOString().replace(".000", "");
      expect(got.stdout).toMatch(new RegExp(`^created \\(UTC\\)\\s+${created}$`, "m"));

      const listed = await cli(["tasks", "list", "--limit", "100"]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(/^ID\s+STATUS\s+PROGRESS\s+MODEL\s+CREATED/);
      expect(listed.stdout).toContain(`${id}  `);
      expect(listed.stdout).toContain(created);
      const json = await cli(["--json", "tasks", "list", "--status", "failed"]);
      expect(JSON.parse(json.stdout).data.map((t: { id: string }) => t.id)).not.toContain(id);

      const waited = await cli(["tasks", "wait", id, "--timeout", "1", "--interval", "0.2"]);
      expect(waited.code).toBe(4);
      expect(waited.stderr).toContain(`darkroom tasks wait ${id}`);

      const cancelled = await cli(["tasks", "cancel", id]);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(cancelled.stdout).toContain(id);
      const after = await cli(["tasks", "wait", id, "--interval", "0.2"]);
      expect(after.code).toBe(3);
      expect(after.stderr).toMatch(/was cancelled: .*\(request_cancelled\)/);

      const gone = await cli(["tasks", "get", "task-unified-1-zzzzzzzz"]);
      expect(gone.code).toBe(2);
      expect(gone.stderr).toContain("task_not_found");
    },
    SLOW,
  );

  it(
    "Ctrl-C while waiting names the task and how to resume; the task goes on",
    async () => {
      let sent = false;
      const r = await cli(["generate", "[sandbox:delay=120000] slow"], {}, (soFar, child) => {
        if (!sent && /processing|pending/.test(soFar)) {
          sent = true;
          child.kill("SIGINT");
        }
      });
      expect(r.code).toBe(130);
      const id = /^task (task-unified-\S+)$/m.exec(r.stderr)![1]!;
      expect(r.stderr).toContain(`resume with \`darkroom tasks wait ${id}\``);
      const server = (await s.api(`/v1/tasks/${id}`)).json;
      expect(["pending", "processing"]).toContain(server.status);
      await s.api(`/v1/tasks/${id}/cancel`, { method: "POST" });
    },
    SLOW,
  );
});
