#!/usr/bin/env node
// The sandbox renderer's cost (not a test): CPU time per placeholder image, the figure
// that decides how many sandbox tasks per second one process can serve in a load test.
//
//   npm run bench:sandbox
//   BENCH_IMAGES=200 BENCH_ROUNDS=5 BENCH_SIZES=1280x720,4096x4096 npm run bench:sandbox
//   BENCH_BASELINE=/path/to/other/dist npm run bench:sandbox   # before/after, interleaved
//
// For each size, BENCH_ROUNDS rounds of BENCH_IMAGES renders one after another, each
// with a prompt of its own (so the prompt is never served from a cache; the SANDBOX
// label and the footer are, as in a load test), after a warm-up that loads the fonts.
// CPU is process.cpuUsage() around each round: user + system time of every thread
// (libvips encodes on its own pool), so it is the whole cost of a render; libvips is
// set up as the server sets it up (sharp-setup.ts). The median round is reported, as
// ms of CPU per image and per megapixel (issue 15's target: ≤ 20 ms per megapixel).
// This machine's speed drifts with its neighbours' load, so with BENCH_BASELINE
// (another build's dist/, e.g. main's) every round measures the baseline and this
// build back to back, alternating which goes first.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
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

// libvips as the server sets it up (no operation cache, at most 2 threads per image).
const { configureSharp } = await import(path.join(root, "dist/media/sharp-setup.js"));
configureSharp();

const builds = [{ name: "this build", dist: path.join(root, "dist") }];
if (process.env.BENCH_BASELINE)
  builds.unshift({ name: "baseline", dist: path.resolve(process.env.BENCH_BASELINE) });
for (const b of builds)
  b.render = (await import(path.join(b.dist, "providers/sandbox/render.js"))).renderSandboxImage;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round1 = (x) => Math.round(x * 10) / 10;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function round(render, width, height, images, tag) {
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < images; i++) {
    const out = await render({
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
  const rounds = builds.map(() => []);
  for (const b of builds) await round(b.render, width, height, 8, "warm");
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...builds.keys()].reverse() : [...builds.keys()];
    for (const k of order) rounds[k].push(await round(builds[k].render, width, height, IMAGES, r));
  }
  const mp = (width * height) / 1e6;
  builds.forEach((b, k) => {
    const cpu = median(rounds[k].map((r) => r.cpu));
    results.push({
      build: b.name,
      size: `${width}x${height}`,
      megapixels: round1(mp),
      cpuMsPerImage: round1(cpu),
      cpuMsPerMegapixel: round1(cpu / mp),
      wallMsPerImage: round1(median(rounds[k].map((r) => r.wall))),
      imagesPerCpuSecond: Math.round(1000 / cpu),
      jpegKb: Math.round(median(rounds[k].map((r) => r.kb))),
      roundsCpuMsPerImage: rounds[k].map((r) => round1(r.cpu)),
    });
  });
}
console.table(results.map(({ roundsCpuMsPerImage: _rounds, ...r }) => r));
console.log(JSON.stringify({ images: IMAGES, rounds: ROUNDS, results }, null, 2));
