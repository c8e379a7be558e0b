/**
 * Process-wide libvips settings, applied once by the composition root before any
 * image work. Darkroom never decodes the same input twice (every image is a fresh
 * render, upload or reference), so libvips' operation cache only holds on to big
 * decodes and encodes after they are done: it is turned off. Threads per image are
 * capped at 2: several images are processed at once already (sandbox renders,
 * reference checks, provider conversions), and fewer threads mean fewer malloc arenas
 * holding freed memory. On glibc without jemalloc sharp already defaults to 1; that
 * default is kept.
 */
import sharp from "sharp";

export const SHARP_MAX_THREADS = 2;

let configured = false;

export function configureSharp(): void {
  if (configured) return;
  configured = true;
  sharp.cache(false);
  sharp.concurrency(Math.min(sharp.concurrency(), SHARP_MAX_THREADS));
}
