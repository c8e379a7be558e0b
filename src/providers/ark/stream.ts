/**
 * Ark's SSE stream (`stream: true`) → typed events. Each SSE event is `event: <type>`
 * + `data: <json>`; the stream ends with `data: [DONE]`:
 *
 * - `image_generation.partial_succeeded` {image_index, url | b64_json, size}
 * - `image_generation.partial_failed`    {image_index, error{code, message}}; the set
 *                                         may go on (moderation) or stop (internal error)
 * - `image_generation.completed`         {usage}; may be missing for a single image
 * - `error`                              {error{code, message}}: the whole call failed
 *
 * The type is read from the JSON `type` when present, else from the SSE `event:` line.
 * A data line that is not JSON is a protocol error. Unknown types are skipped.
 * One SSE event (one base64 image) may not exceed `maxEventBytes`.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ArkProtocolError } from "./errors.js";
import { parseArkItem, type ArkItem, type ArkUsage } from "./response.js";

export type ArkStreamEvent =
  | { kind: "item"; item: ArkItem }
  | { kind: "completed"; usage: ArkUsage | null }
  | { kind: "error"; code: string | undefined }
  | { kind: "done" };

export function parseArkStreamEvent(msg: EventSourceMessage): ArkStreamEvent | null {
  const data = msg.data.trim();
  if (data === "[DONE]") return { kind: "done" };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new ArkProtocolError("an SSE data line is not JSON");
  }
  if (!json || typeof json !== "object")
    throw new ArkProtocolError("an SSE event is not an object");
  const o = json as Record<string, unknown>;
  const type = typeof o.type === "string" ? o.type : msg.event;
  switch (type) {
    case "image_generation.partial_succeeded":
    case "image_generation.partial_failed": {
      const item = parseArkItem(o, typeof o.image_index === "number" ? o.image_index : undefined);
      if (!item) throw new ArkProtocolError("a partial event carries no image and no error");
      return { kind: "item", item };
    }
    case "image_generation.completed":
      return { kind: "completed", usage: (o.usage as ArkUsage | undefined) ?? null };
    case "error": {
      const err = o.error as { code?: unknown } | undefined;
      return { kind: "error", code: typeof err?.code === "string" ? err.code : undefined };
    }
    default:
      if (o.error && typeof o.error === "object") {
        const code = (o.error as { code?: unknown }).code;
        return { kind: "error", code: typeof code === "string" ? code : undefined };
      }
      return null;
  }
}

/**
 * Yields the events of an SSE body as they arrive. Ends when the body ends (whether or
 * not `[DONE]` was seen: the caller decides what a cut stream means).
 */
export async function* readArkStream(
  body: AsyncIterable<Uint8Array>,
  maxEventBytes: number,
): AsyncGenerator<ArkStreamEvent> {
  const pending: ArkStreamEvent[] = [];
  let failure: Error | null = null;
  let sinceEvent = 0;
  const parser = createParser({
    onEvent(msg) {
      sinceEvent = 0;
      if (failure) return;
      try {
        const ev = parseArkStreamEvent(msg);
        if (ev) pending.push(ev);
      } catch (err) {
        failure = err as Error;
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    sinceEvent += chunk.byteLength;
    if (sinceEvent > maxEventBytes) throw new ArkProtocolError("an SSE event is too large");
    parser.feed(decoder.decode(chunk, { stream: true }));
    while (pending.length > 0) yield pending.shift()!;
    if (failure) throw failure;
  }
  parser.feed(decoder.decode());
  while (pending.length > 0) yield pending.shift()!;
  if (failure) throw failure;
}
