#!/usr/bin/env node
// The sandbox renderer's cost (not a test): CPU time per placeholder image, the figure
// that decides how many sandbox tasks per second one process can serve in a load test.
//
//   npm run bench:sandbox
//   BENCH_IMAGES=200 BENCH_ROUNDS=5 npm run bench:sandbox
//
// For each size, BENCH_ROUNDS rounds of BENCH_IMAGES renders one after another (each
// with a prompt of its own, so nothing per task is served from a cache), after a warm-up
// that loads the fonts and fills the per-size caches. CPU is process.cpuUsage() around
// each round: user + system time of every thread (libvips works on its own pool), so it
// is the cost a load test pays, whatever ran it. The median round is reported, as ms of
// CPU per image and per megapixel (issue 15's target: ≤ 20 ms per megapixel).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { renderSandboxImage } = await import(path.join(root, "dist/providers/sandbox/render.js"));

const IMAGES = Number(process.env.BENCH_IMAGES || 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const SIZES = (process.env.BENCH_SIZES || "1280x720,2048x2048")
  .split(",")
  .map((s) => s.split("x").map(Number));
const PROMPTS = [
  "a red fox in the snow, cinematic lighting, 35mm",
  "猫 ねこ 고양이 😺 a cat asleep on a windowsill at dusk",
  "an isometric city block at night, neon signs, rain, reflections on wet asphalt, highly detailed",
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function round(width, height, images, tag) {
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < images; i++) {
    const out = await renderSandboxImage({
      prompt: `${PROMPTS[i % PROMPTS.length]} #${tag}-${i}`,
      index: i % 4,
      total: 4,
      width,
      height,
      model: "doubao-seedream-4.0",
    });
    bytes += out.length;
  }
  return {
    cpu: (cpuMs() - cpu0) / images,
    wall: (performance.now() - wall0) / images,
    kb: bytes / images / 1024,
  };
}

const results = [];
for (const [width, height] of SIZES) {
  await round(width, height, 5, "warm");
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(width, height, IMAGES, r));
  const mp = (width * height) / 1e6;
  const cpu = median(rounds.map((r) => r.cpu));
  results.push({
    size: `${width}x${height}`,
    megapixels: Math.round(mp * 100) / 100,
    cpuMsPerImage: Math.round(cpu * 10) / 10,
    cpuMsPerMegapixel: Math.round((cpu / mp) * 10) / 10,
    wallMsPerImage: Math.round(median(rounds.map((r) => r.wall)) * 10) / 10,
    imagesPerCpuSecond: Math.round(1000 / cpu),
    jpegKb: Math.round(median(rounds.map((r) => r.kb))),
    rounds: rounds.map((r) => Math.round(r.cpu * 10) / 10),
  });
}
console.table(results.map(({ rounds: _rounds, ...r }) => r));
console.log(JSON.stringify({ images: IMAGES, rounds: ROUNDS, results }, null, 2));
