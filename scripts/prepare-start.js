#!/usr/bin/env node
// Runs before `npm start` (package.json "prestart"): installs and builds only when something
// changed, so a restart with nothing changed is up in about a second instead of spending
// 10–18 s in `npm install` and `tsc` (issue 12). Plain Node, no dependencies: it runs before
// node_modules exists on a fresh clone.
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readdirSync, statSync, utimesSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const at = (...parts) => join(root, ...parts);

/**
 * What `npm run build` makes, each part rebuilt on its own when its inputs changed: the
 * server (tsc) and the web console (Vite). A stamp is written after a successful build,
 * dated when that build started; `output` must exist too (a deleted dist/console).
 */
const TARGETS = [
  {
    name: "server",
    script: "build:server",
    stamp: at("dist", ".build-stamp"),
    output: at("dist"),
    inputs: ["src", "tsconfig.json", "tsconfig.build.json"],
  },
  {
    name: "console",
    script: "build:console",
    stamp: at("dist", ".console-build-stamp"),
    output: at("dist", "console", "index.html"),
    // The console bundles the server's model catalogue and size rules from src/core, and
    // the magic-number check it runs on a dropped file.
    inputs: [
      "console",
      "src/core/models.ts",
      "src/core/size.ts",
      "src/core/types.ts",
      "src/media/image-format.ts",
    ],
  },
];
const DEPENDENCY_FIELDS = [
  "dependencies",
  "devDependencies",
  "optionalDependencies",
  "peerDependencies",
];

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

function exists(path) {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why `npm install` must run, or undefined when node_modules already holds what the lock
 * asks for. Compares contents, not dates: a checkout or a worktree gives package.json a new
 * mtime without changing what is installed. npm records what it installed in
 * node_modules/.package-lock.json (its "hidden lockfile").
 */
function installReason() {
  const manifest = readJson(at("package.json"));
  const lock = readJson(at("package-lock.json"));
  const installed = readJson(at("node_modules", ".package-lock.json"));
  if (!lock) return "package-lock.json is missing";
  if (!installed) return "node_modules is missing";
  const locked = lock.packages?.[""] ?? {};
  for (const field of DEPENDENCY_FIELDS) {
    if (canonical(manifest?.[field]) !== canonical(locked[field])) {
      return `package.json's ${field} differ from package-lock.json`;
    }
  }
  for (const [path, want] of Object.entries(lock.packages ?? {})) {
    if (path === "") continue;
    const have = installed.packages?.[path];
    // Optional packages for other platforms (sharp's prebuilt binaries) are never installed.
    if (!have && want.optional) continue;
    if (!have || !exists(at(path))) return `${path} is not installed`;
    if (have.version !== want.version) {
      return `${path} is ${have.version}, package-lock.json wants ${want.version}`;
    }
  }
  return undefined;
}

function canonical(deps) {
  if (!deps || Object.keys(deps).length === 0) return "{}";
  return JSON.stringify(
    Object.fromEntries(Object.entries(deps).sort(([a], [b]) => (a < b ? -1 : 1))),
  );
}

/** The newest modification under `inputs` (directories count: a deleted file). */
function newestInput(inputs) {
  let newest = { path: "", mtimeMs: 0 };
  const visit = (path) => {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return;
    }
    if (stat.mtimeMs > newest.mtimeMs) newest = { path, mtimeMs: stat.mtimeMs };
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  for (const input of inputs) visit(at(input));
  return newest;
}

/** Why `target` must be built, or undefined when it is newer than everything it is built from. */
function buildReason(target) {
  let stamp;
  try {
    stamp = statSync(target.stamp);
  } catch {
    return `the ${target.name} has not been built here yet`;
  }
  if (!exists(target.output)) return `${relative(root, target.output)} is missing`;
  const newest = newestInput(target.inputs);
  // >=: on a file system with coarse timestamps, an edit in the build's first second counts.
  if (newest.mtimeMs >= stamp.mtimeMs) return `${relative(root, newest.path)} changed`;
  return undefined;
}

/** npm as it ran us (npm_execpath), so the same npm installs and builds. */
function npm(args) {
  const execPath = process.env.npm_execpath;
  const [command, argv] = execPath ? [process.execPath, [execPath, ...args]] : ["npm", args];
  const result = spawnSync(command, argv, {
    cwd: root,
    stdio: "inherit",
    shell: !execPath && process.platform === "win32",
  });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function build(target) {
  const startedAt = new Date();
  npm(["run", target.script]);
  // Dated when the build started, so an edit made while it ran is seen as newer next time.
  closeSync(openSync(target.stamp, "w"));
  utimesSync(target.stamp, startedAt, startedAt);
}

const began = performance.now();
const whyInstall = installReason();
if (whyInstall) {
  console.log(`prepare-start: installing dependencies (${whyInstall})`);
  npm(["install", "--no-audit", "--no-fund", "--loglevel=error"]);
}
// New dependencies may change types or emitted code: always build after an install.
let built = 0;
for (const target of TARGETS) {
  const why = whyInstall ? "dependencies were installed" : buildReason(target);
  if (!why) continue;
  console.log(`prepare-start: building the ${target.name} (${why})`);
  build(target);
  built++;
}
if (!whyInstall && built === 0) {
  const ms = Math.round(performance.now() - began);
  console.log(`prepare-start: dependencies and build up to date (checked in ${ms} ms)`);
}
