/**
 * The keyset cursor of `GET /v1/tasks`: the position of the last task of a page in the
 * listing's order (newest first: `created_ms` descending, then id descending). The next
 * page is "the tasks strictly after this position", one bounded index walk however deep
 * it is, where `page` would make the database step over every task before it.
 *
 * Opaque to clients (base64url), versioned so that its form can change. A cursor names
 * only a position, never an account or a filter: it is applied to the caller's own
 * tasks, so a forged or reused cursor can reveal nothing another query could not.
 */
import { TASK_ID_RE } from "./ids.js";

export interface TaskPosition {
  createdMs: number;
  id: string;
}

const VERSION = "1";

export function encodeTaskCursor(pos: TaskPosition): string {
  return Buffer.from(`${VERSION}.${pos.createdMs}.${pos.id}`, "utf8").toString("base64url");
}

/** The position a cursor names, or null when it is not one of ours. */
export function decodeTaskCursor(cursor: string): TaskPosition | null {
  if (cursor.length === 0 || cursor.length > 128 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  const [version, ms, id, ...rest] = Buffer.from(cursor, "base64url").toString("utf8").split(".");
  if (version !== VERSION || rest.length > 0 || ms === undefined || id === undefined) return null;
  if (!/^\d{1,16}$/.test(ms)) return null;
  const createdMs = Number(ms);
  if (!Number.isSafeInteger(createdMs) || !TASK_ID_RE.test(id)) return null;
  return { createdMs, id };
}
