// @ts-check
/**
 * darkroom/layers: the folders under src/ are layers, and an import never runs upward.
 *
 * For a file in src/<layer>/, every relative import (import, export … from, import())
 * that resolves into src/<other>/ must name a layer at or below its own in `layers`
 * (lowest first). A folder under src/ that is not in the list is reported too, so a
 * new folder has to be placed before it can be used. Package imports are not checked,
 * except Node's built-in modules in the layers listed in `nodeBuiltins`, which may
 * use only the modules listed there (core stays free of I/O).
 *
 * `exceptions` maps a file to the files it may import against the order: a known
 * debt, written down where the rule is configured rather than hidden in the file.
 */
import { builtinModules } from "node:module";
import path from "node:path";

const builtins = new Set(builtinModules);

/** @param {string} p */
const posix = (p) => p.split(path.sep).join("/");

/** @type {import("eslint").Rule.RuleModule} */
export default {
  meta: {
    type: "problem",
    docs: { description: "Imports between src/ folders only run downward through the layers" },
    schema: [
      {
        type: "object",
        properties: {
          root: { type: "string" },
          layers: { type: "array", items: { type: "string" }, minItems: 1 },
          nodeBuiltins: {
            type: "object",
            additionalProperties: { type: "array", items: { type: "string" } },
          },
          exceptions: {
            type: "object",
            additionalProperties: { type: "array", items: { type: "string" } },
          },
        },
        required: ["layers"],
        additionalProperties: false,
      },
    ],
    messages: {
      upward:
        "src/{{from}} may not import {{target}}: {{to}} is above {{from}} in the layers ({{order}}). Move what both need down to the lower layer.",
      unknownLayer:
        "src/{{layer}} is not in the layer list ({{order}}); add it to the layers in eslint.config.js.",
      nodeBuiltin:
        "src/{{from}} may not import {{target}}: this layer does no I/O (allowed: {{allowed}}).",
    },
  },

  create(context) {
    const options = context.options[0] ?? {};
    const root = options.root ?? "src";
    /** @type {string[]} */
    const layers = options.layers;
    /** @type {Record<string, string[]>} */
    const nodeBuiltins = options.nodeBuiltins ?? {};
    /** @type {Record<string, string[]>} */
    const exceptions = options.exceptions ?? {};
    const order = layers.join(" < ");
    const cwd = context.cwd;

    /** The layer a repository-relative path lies in, or null outside src/<dir>/. */
    const layerOf = (/** @type {string} */ rel) => {
      const parts = rel.split("/");
      return parts[0] === root && parts.length > 2 ? parts[1] : null;
    };

    const file = posix(path.relative(cwd, context.filename));
    const from = layerOf(file);
    if (from === null) return {};
    const rank = layers.indexOf(from);
    const allowedUpward = exceptions[file] ?? [];

    /** @param {import("estree").Node & { source?: unknown }} node */
    function check(node) {
      const source = /** @type {{ type: string, value?: unknown } | null | undefined} */ (
        node.source
      );
      if (!source || source.type !== "Literal" || typeof source.value !== "string") return;
      const spec = source.value;

      if (!spec.startsWith(".")) {
        const allowed = nodeBuiltins[from];
        const bare = spec.startsWith("node:") ? spec.slice(5) : spec;
        if (allowed && builtins.has(bare) && !allowed.includes(`node:${bare}`))
          context.report({
            node: source,
            messageId: "nodeBuiltin",
            data: { from, target: spec, allowed: allowed.join(", ") || "none" },
          });
        return;
      }

      const target = posix(path.relative(cwd, path.resolve(path.dirname(context.filename), spec)));
      const to = layerOf(target);
      if (to === null || to === from) return;
      const targetRank = layers.indexOf(to);
      if (targetRank !== -1 && targetRank < rank) return;
      // An exception names the source file; the import says .js for a .ts file.
      if (allowedUpward.includes(target.replace(/\.js$/, ".ts"))) return;
      context.report({
        node: source,
        messageId: targetRank === -1 ? "unknownLayer" : "upward",
        data: { from, to, target, layer: to, order },
      });
    }

    return {
      Program(node) {
        if (rank === -1)
          context.report({ node, messageId: "unknownLayer", data: { layer: from, order } });
      },
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};
