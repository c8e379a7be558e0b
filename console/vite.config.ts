/**
 * Builds the web console (console/) into dist/console, served by the http layer at
 * /console/ (src/http/routes/console.ts). Preact through esbuild's JSX transform: no
 * Babel, a small bundle.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  base: "/console/",
  publicDir: false,
  logLevel: "warn",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: fileURLToPath(new URL("../dist/console", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // The polyfill would be an extra script; every browser we serve supports modulepreload.
    modulePreload: { polyfill: false },
    // Small enough to inline would mean data: URLs; keep every asset a file.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
