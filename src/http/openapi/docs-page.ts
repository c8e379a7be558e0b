/**
 * GET /docs: one self-contained page that fetches /openapi.json and renders it. Ours,
 * not a reference-viewer bundle: a few kilobytes instead of megabytes, nothing from a
 * CDN, and a strict Content-Security-Policy (no inline code but the page's own, pinned
 * by hash; no connections but to this server).
 */
import { createHash } from "node:crypto";

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1b1f;--bg:#fff;--muted:#5b5b66;--line:#d9d9e0;--code:#f3f3f6;--accent:#0b5cad}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8ee;--bg:#141418;--muted:#a4a4b0;--line:#34343c;--code:#1f1f26;--accent:#6cb0ff}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
code,pre{font:13px/1.45 ui-monospace,monospace;background:var(--code);border-radius:4px}
code{padding:0 .25em}
pre{padding:.6em;overflow-x:auto;white-space:pre-wrap}
.layout{display:grid;grid-template-columns:17rem 1fr;min-height:100vh}
nav{border-right:1px solid var(--line);padding:1rem;position:sticky;top:0;height:100vh;overflow-y:auto}
nav h2{font-size:.8rem;text-transform:uppercase;color:var(--muted);margin:1rem 0 .3rem}
nav ul{list-style:none;margin:0;padding:0}
nav li a{display:block;padding:.1rem 0;text-decoration:none;font-size:.9rem}
main{padding:1rem 2rem;max-width:60rem}
section.op{border-top:1px solid var(--line);padding:1rem 0}
.method{display:inline-block;min-width:4.2em;text-align:center;font-weight:700;font-size:.8rem;padding:.1em .4em;border-radius:4px;border:1px solid currentColor;margin-right:.5em}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{text-align:left;vertical-align:top;border-bottom:1px solid var(--line);padding:.3rem .5rem}
th{font-size:.8rem;color:var(--muted)}
.muted{color:var(--muted)}
details{margin:.3rem 0}
summary{cursor:pointer}
.fields{margin:.2rem 0 .2rem 1rem;border-left:2px solid var(--line);padding-left:.6rem}
@media (max-width:48rem){.layout{grid-template-columns:1fr}nav{position:static;height:auto;border-right:0;border-bottom:1px solid var(--line)}main{padding:1rem}}
`;

// Plain browser JavaScript: builds the page with DOM calls (text only, never innerHTML).
const SCRIPT = `
"use strict";
(async () => {
  const main = document.querySelector("main"), nav = document.querySelector("nav");
  const fill = (node, ...kids) => {
    node.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined));
    return node;
  };
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return fill(e, ...kids);
  };
  // Markdown enough for our prose: code spans, and tables kept as preformatted text.
  const prose = (text) => {
    const out = [];
    for (const block of String(text || "").split(/\\n\\n+/)) {
      if (block.startsWith("|")) { out.push(el("pre", {}, block)); continue; }
      const p = el("p");
      block.split(/(\`[^\`]*\`)/).forEach((part) =>
        p.append(part.startsWith("\`") && part.length > 1 ? el("code", {}, part.slice(1, -1)) : part));
      out.push(p);
    }
    return out;
  };
  let doc;
  try {
    const res = await fetch("openapi.json", { headers: { accept: "application/json" } });
    doc = await res.json();
  } catch (err) {
    fill(main, el("p", {}, "Could not load openapi.json: " + err));
    return;
  }
  const resolve = (s) => {
    let seen = 0;
    while (s && s.$ref && seen++ < 20) {
      s = s.$ref.replace(/^#\\//, "").split("/").reduce((o, k) => (o ? o[k] : undefined), doc);
    }
    return s || {};
  };
  const refName = (s) => (s && s.$ref ? s.$ref.split("/").pop() : null);
  const typeOf = (s) => {
    s = resolve(s);
    if (s.const !== undefined) return JSON.stringify(s.const);
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (s.anyOf || s.oneOf) return (s.anyOf || s.oneOf).map(typeOf).join(" | ");
    if (s.type === "array") return (s.items ? typeOf(s.items) : "any") + "[]";
    return [].concat(s.type || (s.properties ? "object" : "any")).join(" | ");
  };
  const rules = (s) => {
    s = resolve(s);
    const r = [];
    const add = (k, label) => { if (s[k] !== undefined) r.push(label + " " + s[k]); };
    add("minimum", "≥"); add("maximum", "≤"); add("minLength", "min length"); add("maxLength", "max length");
    add("maxItems", "at most"); add("pattern", "matches"); add("format", "format");
    if (s.default !== undefined) r.push("default " + JSON.stringify(s.default));
    for (const alt of s.anyOf || []) { const inner = rules(alt); if (inner) r.push(inner); }
    return r.join("; ");
  };
  const fields = (schema, depth) => {
    const s = resolve(schema);
    if (depth > 6) return null;
    if (s.oneOf && !s.properties) {
      return el("div", { class: "fields" }, el("p", { class: "muted" }, "One of:"),
        s.oneOf.map((alt) => el("details", {}, el("summary", {}, resolve(alt).title || refName(alt) || typeOf(alt)),
          fields(alt, depth + 1))));
    }
    if (s.type === "array" && s.items && resolve(s.items).properties) return fields(s.items, depth + 1);
    const props = s.properties || {};
    const required = new Set(s.required || []);
    if (!Object.keys(props).length) return s.description ? el("div", {}, prose(s.description)) : null;
    return el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "rules"))),
      el("tbody", {}, Object.entries(props).map(([name, p]) => {
        const inner = resolve(p).anyOf ? resolve(p).anyOf.find((a) => resolve(a).properties) : null;
        const nested = resolve(p).properties || inner || (resolve(p).items && resolve(resolve(p).items).properties)
          ? fields(inner || p, depth + 1) : null;
        return el("tr", {},
          el("td", {}, el("code", {}, name), required.has(name) ? el("span", { class: "muted" }, " required") : null),
          el("td", {}, el("code", {}, typeOf(p))),
          el("td", {}, rules(p), resolve(p).description ? prose(resolve(p).description) : null, nested));
      })));
  };
  const operation = (method, path, op, id) => {
    const params = (op.parameters || []).map(resolve);
    return el("section", { class: "op", id },
      el("h3", {}, el("span", { class: "method" }, method.toUpperCase()), el("code", {}, path)),
      el("p", {}, op.summary || ""),
      op.description ? prose(op.description) : null,
      el("p", { class: "muted" }, op.security && op.security.length
        ? "Auth: " + op.security.flatMap(Object.keys).join(", ") : "No auth."),
      params.length ? [el("h4", {}, "Parameters"), el("table", {},
        el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "about"))),
        el("tbody", {}, params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
          el("td", {}, el("code", {}, typeOf(p.schema))), el("td", {}, p.description || "", " ", rules(p.schema))))))] : null,
      op.requestBody ? [el("h4", {}, "Body"),
        fields((op.requestBody.content["application/json"] || {}).schema, 0)] : null,
      el("h4", {}, "Responses"),
      el("table", {}, el("tbody", {}, Object.entries(op.responses || {}).map(([status, r]) => {
        const res = resolve(r);
        const json = res.content && res.content["application/json"];
        const named = json && json.schema && refName(json.schema);
        return el("tr", {}, el("td", {}, el("code", {}, status)),
          el("td", {}, prose(res.description),
            json && json.schema && status < 300 ? el("details", {}, el("summary", {}, named || "schema"), fields(json.schema, 0)) : null));
      }))));
  };
  document.title = doc.info.title;
  const byTag = new Map();
  const entries = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) entries.push({ method, path, op });
  }
  for (const [name, item] of Object.entries(doc.webhooks || {})) {
    for (const [method, op] of Object.entries(item)) entries.push({ method, path: "webhook: " + name, op: { ...op, tags: ["Webhooks"] } });
  }
  entries.forEach((e, i) => {
    e.id = "op-" + i;
    const tag = (e.op.tags || ["Other"])[0];
    if (!byTag.has(tag)) byTag.set(tag, []);
    byTag.get(tag).push(e);
  });
  fill(nav, el("strong", {}, doc.info.title), " ", el("span", { class: "muted" }, doc.info.version),
    el("p", {}, el("a", { href: "openapi.json" }, "openapi.json")),
    [...byTag].map(([tag, ops]) => [el("h2", {}, tag), el("ul", {}, ops.map((e) =>
      el("li", {}, el("a", { href: "#" + e.id }, e.op.summary || e.path))))]));
  fill(main, el("h1", {}, doc.info.title), prose(doc.info.description),
    [...byTag].map(([tag, ops]) => [el("h2", {}, tag), ops.map((e) => operation(e.method, e.path, e.op, e.id))]));
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
})();
`;

const sha256 = (s: string) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;

export interface DocsPage {
  html: string;
  /** The page's Content-Security-Policy: only its own script and style, only this origin. */
  csp: string;
}

export function docsPage(): DocsPage {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Darkroom API</title>
<style>${STYLE}</style>
</head>
<body>
<div class="layout">
<nav aria-label="Operations"></nav>
<main><p>Loading the API description…</p><noscript>This page needs JavaScript; the document itself is at <a href="openapi.json">openapi.json</a>.</noscript></main>
</div>
<script>${SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}
