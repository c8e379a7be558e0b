/** Admin request bodies are validated with zod; its first issue becomes a 400 with `param`. */
import { z } from "zod";
import { ApiError } from "../../../core/errors.js";
import { parseCredits, ppmFromMultiplier } from "../../../core/money.js";
import type { ListPage, PageStart } from "../../../core/paging.js";
import { pageStart } from "../../page-start.js";

export function parseBody<T extends z.ZodTypeAny>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.join(".") || undefined;
  throw new ApiError(
    "invalid_request",
    `${param ? `${param}: ` : ""}${issue.message}`,
    param ? { param } : {},
  );
}

export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).optional(),
  page_size: z.coerce.number().int().min(1).max(200).default(20),
  cursor: z.string().min(1).optional(),
});

type PageParams = z.infer<typeof pageQuery>;

/** Where an operator's listing starts, as for GET /v1/tasks (http/page-start.ts). */
export function listStart<P>(q: PageParams, decode: (cursor: string) => P | null): PageStart<P> {
  return pageStart(q, decode, { issuer: "listing", rows: "rows" });
}

/**
 * An operator's list answer: `total` counts up to TOTAL_CAP rows and `total_capped`
 * says when there are more; `page` is null when the page was asked by cursor.
 */
export function listAnswer<T, P>(
  q: PageParams,
  start: PageStart<P>,
  page: ListPage<T, P>,
  view: (row: T) => unknown,
  encode: (position: P) => string,
) {
  return {
    object: "list",
    data: page.data.map(view),
    total: page.total,
    total_capped: page.totalCapped,
    page: "page" in start ? start.page : null,
    page_size: q.page_size,
    next_cursor: page.next ? encode(page.next) : null,
  };
}

/** A decimal amount of credits ("12.5" or 12.5), exact to the micro-credit. */
export const credits = (opts: { allowNegative?: boolean } = {}) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const s = String(v).trim();
    const negative = s.startsWith("-");
    if (negative && !opts.allowNegative) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must not be negative" });
      return z.NEVER;
    }
    const micros = parseCredits(negative ? s.slice(1) : s);
    if (micros === null) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: "must be a decimal number with at most 6 decimals",
      });
      return z.NEVER;
    }
    return negative ? -micros : micros;
  });

export const multiplier = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ppm = ppmFromMultiplier(v);
  if (ppm === null || ppm < 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be a non-negative decimal number" });
    return z.NEVER;
  }
  return ppm;
});
