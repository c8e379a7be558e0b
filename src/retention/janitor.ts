/**
 * The janitor: deletes what Darkroom no longer keeps, in small steps off the hot path.
 *
 * - Expired images: images live in one folder per ten minutes of task creation
 *   (core/image-keys.ts), so expiring them is removing whole folders once their ten
 *   minutes are older than the image retention: no per-image bookkeeping, no scan.
 * - Leftovers of crashes: a file in an image folder whose task has finished without
 *   listing it (a write that finished after its task failed or lost its lease, a
 *   runner killed between the image and the commit) or whose task does not exist, and
 *   the temp files of writes that never finished. Each folder is checked once, when
 *   its ten minutes are `leftoverGraceMs` old; a process checks the folders of the last
 *   `recheckMs` when it starts, since a crash is followed by a start. Files of tasks
 *   still running, and files whose names Darkroom does not make, are left alone.
 * - Uploaded files (the file API): rows whose time is up — expired, deleted, or
 *   reserved by an upload that never finished (a crash between reserve and commit) —
 *   a batch at a time, oldest first: their folder goes first, then their rows, so a
 *   crash between the two only repeats the removal next round.
 * - Old tasks: finished tasks older than the task retention are deleted a batch per
 *   write (Store.purgeTasks), with a pause between batches; the ledger keeps its entries.
 *
 * Every step is idempotent, so several worker processes may run janitors at once.
 */
import type { Logger } from "pino";
import {
  IMAGE_FOLDER_MS,
  IMAGES_PREFIX,
  imageFileOf,
  imageFolderStartMs,
} from "../core/image-keys.js";
import type { MediaStorage } from "../media/storage.js";
import { uploadFolder } from "../media/uploads.js";
import type { FileStore } from "../store/files.js";
import type { Store } from "../store/store.js";

export interface RetentionSettings {
  /** How long images are kept after their task was created; null = for ever. */
  imageRetentionMs: number | null;
  /** How long finished tasks are kept after they were created; null = for ever. */
  taskRetentionMs: number | null;
  /** Between rounds. */
  intervalMs: number;
  /** A folder is checked for leftovers once its ten minutes are this old. */
  leftoverGraceMs: number;
  /** How far back a starting process checks folders for leftovers. */
  recheckMs: number;
  /** Tasks per purge write, and writes per round. */
  purgeBatch: number;
  purgeBatchesPerRound: number;
}

export const DEFAULT_RETENTION: Omit<RetentionSettings, "imageRetentionMs" | "taskRetentionMs"> = {
  intervalMs: 60_000,
  leftoverGraceMs: 60 * 60_000,
  recheckMs: 24 * 60 * 60_000,
  purgeBatch: 500,
  purgeBatchesPerRound: 20,
};

export interface JanitorRound {
  foldersRemoved: number;
  leftoversRemoved: number;
  tasksPurged: number;
  filesRemoved: number;
}

export interface JanitorDeps {
  store: Pick<Store, "imagesOfTasks" | "purgeTasks">;
  media: MediaStorage;
  /** Uploaded files' rows; absent = none to remove. */
  files?: Pick<FileStore, "expiredFiles" | "forgetFiles">;
  log: Logger;
  now?: () => number;
}

/** Task ids per imagesOfTasks call. */
const LOOKUP_BATCH = 200;
/** Uploaded files removed per batch (a storage delete each). */
const FILE_BATCH = 100;

export class Janitor {
  private readonly now: () => number;
  private readonly checked = new Set<string>();
  private readonly startedAt: number;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<JanitorRound> | null = null;
  private stopped = false;

  constructor(
    private readonly deps: JanitorDeps,
    private readonly settings: RetentionSettings,
  ) {
    // Read through Date.now at each call, so a shifted clock (tests) is seen.
    this.now = deps.now ?? (() => Date.now());
    this.startedAt = this.now();
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      this.timer = null;
      void this.runOnce()
        .catch((err: unknown) => this.deps.log.warn({ err }, "retention round failed"))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.settings.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, Math.min(this.settings.intervalMs, 5_000)).unref();
  }

  /** Stops after the step in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.round?.catch(() => undefined);
  }

  /** One round (rounds never overlap: a second call joins the running one). */
  runOnce(): Promise<JanitorRound> {
    this.round ??= this.work().finally(() => {
      this.round = null;
    });
    return this.round;
  }

  private async work(): Promise<JanitorRound> {
    const done: JanitorRound = {
      foldersRemoved: 0,
      leftoversRemoved: 0,
      tasksPurged: 0,
      filesRemoved: 0,
    };
    const { imageRetentionMs, leftoverGraceMs, recheckMs } = this.settings;
    const folders = (await this.deps.media.listFolders(IMAGES_PREFIX)).sort();
    for (const folder of folders) {
      if (this.stopped) break;
      const start = imageFolderStartMs(folder);
      if (start === null) continue;
      const age = this.now() - (start + IMAGE_FOLDER_MS);
      if (imageRetentionMs !== null && age >= imageRetentionMs) {
        await this.deps.media.remove(`${IMAGES_PREFIX}/${folder}`);
        this.checked.delete(folder);
        done.foldersRemoved++;
        continue;
      }
      if (age < leftoverGraceMs || this.checked.has(folder)) continue;
      // Older than this process's look-back when it started: checked by an earlier life.
      if (start + IMAGE_FOLDER_MS < this.startedAt - recheckMs) continue;
      done.leftoversRemoved += await this.removeLeftovers(`${IMAGES_PREFIX}/${folder}`);
      this.checked.add(folder);
    }
    done.tasksPurged = await this.purgeTasks();
    done.filesRemoved = await this.removeExpiredFiles();
    if (done.foldersRemoved + done.leftoversRemoved + done.tasksPurged + done.filesRemoved > 0)
      this.deps.log.info(
        {
          folders_removed: done.foldersRemoved,
          leftovers_removed: done.leftoversRemoved,
          tasks_purged: done.tasksPurged,
          files_removed: done.filesRemoved,
        },
        "retention round",
      );
    return done;
  }

  private async removeLeftovers(folder: string): Promise<number> {
    const byTask = new Map<string, Array<{ key: string; temporary: boolean }>>();
    for (const key of await this.deps.media.listFiles(folder)) {
      const file = imageFileOf(key.slice(key.lastIndexOf("/") + 1));
      if (!file) continue;
      const list = byTask.get(file.taskId) ?? [];
      list.push({ key, temporary: file.temporary });
      byTask.set(file.taskId, list);
    }
    const ids = [...byTask.keys()];
    const leftovers: string[] = [];
    for (let at = 0; at < ids.length && !this.stopped; at += LOOKUP_BATCH) {
      const batch = ids.slice(at, at + LOOKUP_BATCH);
      const tasks = await this.deps.store.imagesOfTasks(batch);
      for (const id of batch) {
        const task = tasks.get(id);
        if (task && !task.finished) continue; // still running: its files may be in use
        const kept = new Set(task?.keys ?? []);
        for (const f of byTask.get(id)!) if (f.temporary || !kept.has(f.key)) leftovers.push(f.key);
      }
    }
    if (leftovers.length > 0) {
      await this.deps.media.removeFiles(leftovers);
      this.deps.log.info({ folder, files: leftovers.length }, "removed leftover image files");
    }
    return leftovers.length;
  }

  private async removeExpiredFiles(): Promise<number> {
    const files = this.deps.files;
    if (!files) return 0;
    let removed = 0;
    for (let i = 0; i < this.settings.purgeBatchesPerRound && !this.stopped; i++) {
      const batch = await files.expiredFiles(this.now(), FILE_BATCH);
      for (const f of batch) await this.deps.media.remove(uploadFolder(f.id));
      removed += await files.forgetFiles(batch.map((f) => f.id));
      if (batch.length < FILE_BATCH) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return removed;
  }

  private async purgeTasks(): Promise<number> {
    const { taskRetentionMs, purgeBatch, purgeBatchesPerRound } = this.settings;
    if (taskRetentionMs === null) return 0;
    let purged = 0;
    for (let i = 0; i < purgeBatchesPerRound && !this.stopped; i++) {
      const n = await this.deps.store.purgeTasks(this.now() - taskRetentionMs, purgeBatch);
      purged += n;
      if (n < purgeBatch) break;
      // Let the hot path's writes through between batches.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return purged;
  }
}
