/**
 * Where a task's images are stored, and what a stored key says about its task.
 *
 * `images/<UTC date and ten minutes>/<task id>-<index>.<ext>`, the folder taken from the
 * second in the task id, so a retry writes the same key. Images of tasks created
 * together share a folder: one directory fsync makes a whole batch of them durable (a
 * folder per task cost one more per image), the folders stay a few hundred thousand
 * entries at most, and expiring old images is removing old folders (retention/).
 */
export const IMAGES_PREFIX = "images";
/** How much creation time one folder spans. */
export const IMAGE_FOLDER_MS = 600_000;

const EXTENSIONS: Record<string, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
};

/** The unix second a task id was created in (`task-unified-<second>-…`), or null. */
export function taskCreatedSecond(taskId: string): number | null {
  const second = /^task-unified-(\d+)-/.exec(taskId)?.[1];
  return second ? Number(second) : null;
}

/** `YYYYMMDD-HHMM` of the ten minutes holding `ms` (UTC). */
export function imageFolderAt(ms: number): string {
  return new Date(Math.floor(ms / IMAGE_FOLDER_MS) * IMAGE_FOLDER_MS)
    .toISOString()
    .slice(0, 16)
    .replace(/[-:]/g, "")
    .replace("T", "-");
}

/** When a folder's ten minutes begin (unix ms); null for a name imageFolderAt never makes. */
export function imageFolderStartMs(folder: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})$/.exec(folder);
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  return imageFolderAt(ms) === folder ? ms : null;
}

export function imageKey(taskId: string, index: number, contentType: string): string {
  const second = taskCreatedSecond(taskId);
  const folder = second === null ? "other" : imageFolderAt(second * 1000);
  return `${IMAGES_PREFIX}/${folder}/${taskId}-${index}.${EXTENSIONS[contentType] ?? "bin"}`;
}

/** The image's index, from its key (imageKey; also the older `<task id>/<index>` form). */
export function imageIndexOf(key: string): number {
  const m = /[/-](\d+)\.[a-z]+$/.exec(key);
  return m ? Number(m[1]) : 0;
}

/**
 * What a file in an image folder is: a task's image, or the temp file a write left
 * behind (`<image>.<hex>.tmp`, media/durable-files.ts); null for anything else, which
 * retention leaves alone.
 */
export function imageFileOf(fileName: string): { taskId: string; temporary: boolean } | null {
  const m =
    /^(task-unified-\d{1,12}-[a-z0-9]{8})-\d+\.(?:jpg|png|webp|bin)(\.[0-9a-f]+\.tmp)?$/.exec(
      fileName,
    );
  return m ? { taskId: m[1]!, temporary: m[2] !== undefined } : null;
}
