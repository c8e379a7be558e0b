#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`).
import("../dist/cli/main.js").catch((err) => {
  if (err && err.code === "ERR_MODULE_NOT_FOUND") {
    console.error("darkroom: dist/ is missing; run `npm run build` first (or `npm start`).");
    process.exit(1);
  }
  throw err;
});
