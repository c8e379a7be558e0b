/** The request id: the caller's `x-request-id` when it is sane, else a fresh UUID. */
import { randomUUID } from "node:crypto";

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFrom(given: string | string[] | undefined): string {
  return typeof given === "string" && REQUEST_ID_RE.test(given) ? given : randomUUID();
}
