/**
 * Where a listing's page starts, for every listing of the API and the admin API: a page
 * number within PAGE_DEPTH rows, or after the position of a `cursor` (the `next_cursor`
 * of an earlier answer), at any depth. Bad combinations are 400s that say what to send.
 */
import { ApiError } from "../core/errors.js";
import { PAGE_DEPTH, pageWithinDepth, type PageStart } from "../core/paging.js";

export interface PagingParams {
  cursor?: string | undefined;
  page?: number | undefined;
  page_size: number;
}

/** How a listing's messages name things: who gave the cursor out, what is listed. */
export interface PagingWords {
  issuer: string;
  rows: string;
}

export function pageStart<P>(
  q: PagingParams,
  decode: (cursor: string) => P | null,
  words: PagingWords,
): PageStart<P> {
  if (q.cursor !== undefined) {
    const after = decode(q.cursor);
    if (!after)
      throw new ApiError(
        "invalid_request",
        `cursor is not one this ${words.issuer} gave out: pass a next_cursor from an earlier answer, unchanged.`,
        { param: "cursor" },
      );
    if (q.page !== undefined && q.page > 1)
      throw new ApiError(
        "invalid_request",
        "page cannot be combined with cursor: the cursor already says where the page starts.",
        { param: "page" },
      );
    return { after };
  }
  const page = q.page ?? 1;
  if (!pageWithinDepth(page, q.page_size))
    throw new ApiError(
      "invalid_request",
      `page ${page} of page_size ${q.page_size} reaches past the first ${PAGE_DEPTH} ${words.rows}, ` +
        "the deepest a page number goes: pass the next_cursor of the previous answer as cursor to read further.",
      { param: "page" },
    );
  return { page };
}
