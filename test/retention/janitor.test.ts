/**
 * The janitor against a real data dir: files on disk (FsStorage) and the SQLite store,
 * with the clock set by the test.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newTaskId } from "../../src/core/ids.js";
import { imageKey } from "../../src/core/image-keys.js";
import { FsStorage } from "../../src/media/fs-storage.js";
import { DEFAULT_RETENTION, Janitor, type RetentionSettings } from "../../src/retention/janitor.js";
import { openTestStore, submitInput, type TestStore } from "../helpers/store.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.UTC(2026, 0, 10, 12, 0);

let s: TestStore;
let media: FsStorage;
let root: string;

beforeEach(async () => {
  s = await openTestStore();
  root = path.join(s.dir, "files");
  media = new FsStorage(root);
});
afterEach(async () => {
  await s.close();
});

function janitor(nowMs: number, settings: Partial<RetentionSettings> = {}): Janitor {
  return new Janitor(
    { store: s.store, media, log: pino({ level: "silent" }), now: () => nowMs },
    { ...DEFAULT_RETENTION, imageRetentionMs: 7 * DAY, taskRetentionMs: null, ...settings },
  );
}

async function submitAt(ms: number): Promise<string> {
  const input = submitInput(s.principal, { taskId: newTaskId(ms), nowMs: ms });
  expect((await s.store.submitTask(input)).kind).toBe("created");
  return input.taskId;
}

/** Claims the oldest pending task and completes it, listing `keys` as its images. */
async function complete(id: string, keys: string[]): Promise<void> {
  const [c] = await s.store.claimTasks("r", 1, 30_000, BASE);
  expect(c!.task.id).toBe(id);
  const images = keys.map((key) => ({
    key,
    width: 8,
    height: 8,
    contentType: "image/png",
    bytes: 3,
  }));
  const outcome = { kind: "completed" as const, images, chargeMicros: 1_800_000 };
  expect(await s.store.finishTask(id, c!.leaseToken, outcome, BASE)).toBe(true);
}

const file = (key: string) => path.join(root, key);
function put(key: string): string {
  mkdirSync(path.dirname(file(key)), { recursive: true });
  writeFileSync(file(key), "img");
  return key;
}

describe("janitor", () => {
  it("removes crash leftovers from a folder once, and leaves running tasks' files alone", async () => {
    const done = await submitAt(BASE);
    const keep = put(imageKey(done, 0, "image/png"));
    await complete(done, [keep]);
    const extra = put(imageKey(done, 1, "image/png")); // written, never listed
    const doneTemp = put(`${keep}.0a1b2c.tmp`);
    const cancelled = await submitAt(BASE + 1000);
    expect(await s.store.cancelTask(s.principal.accountId, cancelled, BASE)).toBe("cancelled");
    const cancelledFile = put(imageKey(cancelled, 0, "image/png"));
    const running = await submitAt(BASE + 2000);
    await s.store.claimTasks("r", 1, 30_000, BASE);
    const runningFile = put(imageKey(running, 0, "image/png"));
    const runningTemp = put(`${imageKey(running, 1, "image/png")}.ffee00.tmp`);
    const missing = put(imageKey(newTaskId(BASE + 3000), 0, "image/png"));
    const folder = path.dirname(keep);
    const foreign = put(`${folder}/notes.txt`);

    // Too young to judge: nothing is touched.
    expect(await janitor(BASE + 20 * 60_000).runOnce()).toEqual({
      foldersRemoved: 0,
      leftoversRemoved: 0,
      tasksPurged: 0,
      filesRemoved: 0,
    });
    expect(existsSync(file(extra))).toBe(true);

    const j = janitor(BASE + 2 * HOUR);
    expect((await j.runOnce()).leftoversRemoved).toBe(4);
    for (const gone of [extra, doneTemp, cancelledFile, missing])
      expect(existsSync(file(gone)), gone).toBe(false);
    for (const kept of [keep, runningFile, runningTemp, foreign])
      expect(existsSync(file(kept)), kept).toBe(true);

    // A folder is checked once per process: a later leftover waits for a restart.
    const late = put(imageKey(newTaskId(BASE + 4000), 0, "image/png"));
    expect((await j.runOnce()).leftoversRemoved).toBe(0);
    expect(existsSync(file(late))).toBe(true);
    expect((await janitor(BASE + 2 * HOUR).runOnce()).leftoversRemoved).toBe(1);
    expect(existsSync(file(late))).toBe(false);
  });

  it("removes whole folders past the image retention, and keeps everything when it is off", async () => {
    const old = put(imageKey(newTaskId(BASE - 8 * DAY), 0, "image/png"));
    const young = put(imageKey(newTaskId(BASE - 6 * DAY), 0, "image/png"));
    const other = put("images/not-a-folder-name/x.png");

    // Off: nothing expires (leftover checks only look back a day from the start).
    await janitor(BASE, { imageRetentionMs: null }).runOnce();
    expect(existsSync(file(old))).toBe(true);

    const round = await janitor(BASE).runOnce();
    expect(round.foldersRemoved).toBe(1);
    expect(existsSync(path.dirname(file(old)))).toBe(false);
    expect(existsSync(file(young))).toBe(true);
    expect(existsSync(file(other))).toBe(true);
  });

  it("purges finished tasks past the task retention, in batches", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await submitAt(BASE + i * 1000));
    for (const id of ids.slice(0, 4))
      expect(await s.store.cancelTask(s.principal.accountId, id, BASE)).toBe("cancelled");
    const j = janitor(BASE + 3 * DAY, { taskRetentionMs: 2 * DAY, purgeBatch: 3 });
    expect((await j.runOnce()).tasksPurged).toBe(4);
    for (const id of ids.slice(0, 4))
      expect(await s.store.getTask(s.principal.accountId, id)).toBeNull();
    expect(await s.store.getTask(s.principal.accountId, ids[4]!)).not.toBeNull();
    expect(await s.admin.checkLedger()).toEqual([]);
  });
});
