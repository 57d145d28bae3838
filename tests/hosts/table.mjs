// Renders tests/hosts/behaviour.md from tests/hosts/cases.json (behaviour.test.mjs requires the
// file to be exactly this rendering).
//
//   node tests/hosts/table.mjs           prints the table
//   node tests/hosts/table.mjs --write   rewrites tests/hosts/behaviour.md

import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LANGS = [
  ["c", "C"],
  ["python", "Python"],
  ["node", "Node"],
];

/** Text safe inside a table cell. */
const cell = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
/** Inline code that may itself hold backquotes. */
function code(s) {
  const text = String(s);
  const fence = text.includes("``") ? "```" : text.includes("`") ? "``" : "`";
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${fence}${pad}${cell(text)}${pad}${fence}`;
}

/** The observations of `expect` other than code and message, as `k=v` text. */
function observations(o) {
  return Object.entries(o)
    .filter(([k]) => k !== "code" && k !== "message" && k !== "class")
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

function expectedCell(c) {
  const parts = [code(c.expect.code)];
  if (c.expect.message !== undefined) parts.push(code(c.expect.message));
  for (const [lang, fields] of Object.entries(c.by_lang ?? {})) {
    if (fields.message !== undefined) parts.push(`${lang}: ${code(fields.message)}`);
  }
  if (c.own_words) parts.push("words: each front-end's own (below)");
  const obs = observations(c.expect);
  for (const [lang, fields] of Object.entries(c.by_lang ?? {})) {
    for (const o of observations(fields)) obs.push(`${lang}: ${o}`);
  }
  if (obs.length) parts.push(obs.map((o) => code(o)).join(" "));
  if (c.same && c.same.length) parts.push(`same in all: ${c.same.join(", ")}`);
  return parts.join("<br>");
}

function langCell(c, lang) {
  if (c.skip && c.skip[lang]) return `— *cannot: ${cell(c.skip[lang])}*`;
  let api = code(c.api[lang]);
  if (c.racy && c.racy[lang]) api += `<br>**racy**: sometimes no ${c.racy[lang].missing.join(", ")}`;
  const div = c.diverges && c.diverges[lang];
  if (!div) return api;
  const r = div.result;
  const got = [r.code === null ? `no code (${r.class})` : code(r.code)];
  if (r.message !== undefined) got.push(code(r.message));
  return `${api}<br>**differs**: ${got.join(" ")}`;
}

/** The whole behaviour.md text for `cases`. */
export function render(cases) {
  const lines = [];
  lines.push("# Host behaviour table (C, Python, Node)");
  lines.push("");
  lines.push("<!-- Generated from tests/hosts/cases.json by `node tests/hosts/table.mjs --write`; do not edit. -->");
  lines.push("");
  lines.push(
    "Every rule a host program can see, decided once in the core (`rust/src/host`) and only translated by the C ABI " +
      "(`ffi/`), the Python package (`bindings/python`) and the Node package (`bindings/node`). " +
      "`tests/hosts/behaviour.test.mjs` runs each row against all three front-ends (`driver.c`, `driver.py`, " +
      "`driver.mjs`, with real endpoints and real WebSocket / HTTP clients) and requires the expected code and words, " +
      "identical across languages. A row marked **differs** is a disagreement the test pins as it is today (listed " +
      "with its cause below); a row marked *cannot* is one the language has no way to express.",
  );
  lines.push("");
  lines.push(
    "Codes are the C `sb_status` names (Node `err.code`, Python `err.code` and exception class). Node spells option " +
      "names in camelCase. A terminate reason is one string in C (`sb_request_reason`: `kind` or `kind:detail`) and " +
      "`kind` + `detail` in Python (`str(reason)`, `reason.detail`) and Node (`reason`, `detail`).",
  );
  lines.push("");
  const where = {
    local: "Configuration and endpoint calls (no client)",
    client: "With a client (connect, join, HTTP, channel lifecycle)",
    channel: "Inside a joined channel's handle_in",
    closed: "After the endpoint closed",
  };
  for (const [w, title] of Object.entries(where)) {
    const rows = cases.filter((c) => c.where === w);
    if (rows.length === 0) continue;
    lines.push(`## ${title}`);
    lines.push("");
    lines.push("| case | rule | C | Python | Node | expected |");
    lines.push("|---|---|---|---|---|---|");
    for (const c of rows) {
      lines.push(`| \`${c.id}\` | ${cell(c.rule)} | ${LANGS.map(([l]) => langCell(c, l)).join(" | ")} | ${expectedCell(c)} |`);
    }
    lines.push("");
  }
  const own = cases.filter((c) => c.own_words);
  if (own.length) {
    lines.push("## Checks without words in the core");
    lines.push("");
    lines.push("The core has no message for these; each front-end words them itself (none = the call succeeds or gives no message).");
    lines.push("");
    lines.push("| case | C | Python | Node |");
    lines.push("|---|---|---|---|");
    for (const c of own) {
      lines.push(`| \`${c.id}\` | ${LANGS.map(([l]) => (c.own_words[l] === null ? "none" : code(c.own_words[l]))).join(" | ")} |`);
    }
    lines.push("");
  }
  const diverging = cases.filter((c) => c.diverges || c.racy);
  if (diverging.length) {
    lines.push("## Disagreements (pinned until the front-end is fixed)");
    lines.push("");
    for (const c of diverging) {
      for (const [lang, div] of Object.entries(c.diverges ?? {})) {
        lines.push(`- \`${c.id}\`, ${LANGS.find(([l]) => l === lang)[1]}: ${div.why}.`);
      }
      for (const [lang, race] of Object.entries(c.racy ?? {})) {
        lines.push(`- \`${c.id}\`, ${LANGS.find(([l]) => l === lang)[1]} (race; the test accepts a missing ${race.missing.join(", ")}): ${race.why}.`);
      }
    }
    lines.push("");
  }
  return lines.join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { cases } = JSON.parse(readFileSync(path.join(HERE, "cases.json"), "utf8"));
  const text = render(cases);
  if (process.argv.includes("--write")) writeFileSync(path.join(HERE, "behaviour.md"), text);
  else process.stdout.write(text);
}
