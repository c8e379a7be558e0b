/**
 * The Ark emulator (test/emulators/ark.ts) as a process of its own, for the in-flight
 * benchmark: one precomputed tiny JPEG per image and nothing recorded, so it can hold
 * ten thousand requests. Prints one JSON line with its URL, then serves until killed.
 */
import { startArkEmulator } from "../test/emulators/ark.js";

const emulator = await startArkEmulator({
  apiKey: process.env.ARK_API_KEY ?? "ark-bench-key",
  tinyImages: true,
  record: false,
  // Full sets, so runs stay comparable with the figures measured before short sets.
  fullSets: true,
});
process.stdout.write(`${JSON.stringify({ url: emulator.url })}\n`);
process.on("SIGTERM", () => void emulator.close().then(() => process.exit(0)));
