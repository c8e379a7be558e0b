/**
 * Handing a request whose body a fast path has already read over to Fastify.
 *
 * A fast path answers only the plain success case; anything else (a validation error,
 * a refusal, a store failure) is Fastify's to answer, through the same route as ever.
 * By then the body has been consumed from the socket, so it travels with the request
 * and the route's `preParsing` hook puts it back in front of Fastify's body parser:
 * the route sees exactly the bytes the client sent (length checks, JSON parsing and
 * all) and answers exactly as it would have.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import type { preParsingHookHandler } from "fastify";

const HANDED_OVER = Symbol("darkroom.handedOverBody");

type WithBody = IncomingMessage & { [HANDED_OVER]?: Buffer };

/** Gives the request, with the body already read from it, to `next` (Fastify's handler). */
export function handOver(req: IncomingMessage, body: Buffer, next: () => void): void {
  (req as WithBody)[HANDED_OVER] = body;
  next();
}

/** The route's preParsing hook: the handed-over body as the payload, if there is one. */
export const replayHandedOverBody: preParsingHookHandler = (request, _reply, payload, done) => {
  const body = (request.raw as WithBody)[HANDED_OVER];
  if (body === undefined) {
    done(null, payload);
    return;
  }
  const replay = new Readable({ read() {} });
  replay.push(body);
  replay.push(null);
  done(null, replay);
};
