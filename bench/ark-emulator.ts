/**
 * The Ark emulator (test/emulators/ark.ts) as a process of its own, for benchmarks.
 * Prints one JSON line with its URL, then serves until killed.
 *
 * - default: one precomputed tiny JPEG per image and nothing recorded, so it can hold
 *   ten thousand requests (bench/inflight.js);
 * - `ARK_RENDER_SIDE=1280`: real images up to that side (rendered once per size and
 *   cached), as the runner benchmark downloads and stores them;
 * - `ARK_ANSWER_LOG=1`: one line `{"answered": prompt, "t": ms}` per answer, with
 *   the wall clock in sub-millisecond precision, so the benchmark can time what the
 *   gateway does after the upstream answered.
 */
import { startArkEmulator } from "../test/emulators/ark.js";

const renderSide = Number(process.env.ARK_RENDER_SIDE || 0);
const emulator = await startArkEmulator({
  apiKey: process.env.ARK_API_KEY ?? "ark-bench-key",
  tinyImages: renderSide === 0,
  ...(renderSide > 0 ? { maxRenderSide: renderSide } : {}),
  record: false,
  // Full sets, so runs stay comparable with the figures measured before short sets.
  fullSets: true,
});
if (process.env.ARK_ANSWER_LOG === "1") {
  emulator.events.on("answered", (prompt: string) => {
    process.stdout.write(
      `${JSON.stringify({ answered: prompt, t: performance.timeOrigin + performance.now() })}\n`,
    );
  });
}
process.stdout.write(`${JSON.stringify({ url: emulator.url })}\n`);
process.on("SIGTERM", () => void emulator.close().then(() => process.exit(0)));
