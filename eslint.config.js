// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import layers from "./eslint-rules/layers.js";

/**
 * The layers of src/, lowest first (drawn in docs/architecture.md, "Layers"). A folder
 * may import its own layer and the ones before it, never one after it; the
 * darkroom/layers rule below fails `npm run lint` on a wrong-way import.
 *
 * - core: the contract and pure domain logic (types, money, task states, the public
 *   task JSON, credentials' hashes, channel definitions). No I/O.
 * - threads: starting worker threads from our own modules, built or from sources.
 * - obs: events, process monitoring, the logger and its redaction.
 * - net: outbound HTTP that only goes where policy allows.
 * - config: environment and config file, validated once at boot.
 * - media: stored files, signed links, reference images.
 * - providers: the upstream adapters and their contract.
 * - store: the database seam (task store, admin, outbox, channels table).
 * - channels: routing over upstream channels, breakers, admin changes.
 * - runner: claims tasks and runs them through a channel's provider.
 * - webhooks: the callback outbox dispatcher.
 * - http: the API (Fastify app, routes, fast paths).
 * - server: the composition root that wires one process.
 * - cli: the `darkroom` command.
 */
const LAYERS = [
  "core",
  "threads",
  "obs",
  "net",
  "config",
  "media",
  "providers",
  "store",
  "channels",
  "runner",
  "webhooks",
  "retention",
  "http",
  "server",
  "cli",
];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "data/", "coverage/", "bench/results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        setImmediate: "readonly",
        AbortController: "readonly",
        fetch: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/consistent-type-imports": "error",
      eqeqeq: ["error", "always", { null: "ignore" }],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { darkroom: { rules: { layers } } },
    rules: {
      "darkroom/layers": [
        "error",
        {
          layers: LAYERS,
          // isIP is core's only use of node:net; hashes and ids need node:crypto.
          nodeBuiltins: { core: ["node:crypto", "node:net"] },
        },
      ],
    },
  },
);
