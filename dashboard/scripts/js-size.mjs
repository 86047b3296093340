// Prints the JavaScript the export ships, gzipped, and fails above the budget (issue 13: 250 kB).
// Run after `next build`: node scripts/js-size.mjs
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_KB = 250;
const root = new URL("../out/_next/static", import.meta.url).pathname;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith(".js")) yield path;
  }
}

let raw = 0;
let gzipped = 0;
for (const path of files(root)) {
  const bytes = readFileSync(path);
  raw += bytes.length;
  gzipped += gzipSync(bytes, { level: 9 }).length;
}
const kb = (n) => (n / 1024).toFixed(1);
console.log(`dashboard JavaScript: ${kb(gzipped)} kB gzipped (${kb(raw)} kB raw), budget ${BUDGET_KB} kB`);
if (gzipped > BUDGET_KB * 1024) process.exit(1);
