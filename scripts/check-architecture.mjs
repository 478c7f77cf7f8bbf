#!/usr/bin/env node
/**
 * `npm run lint` runs this after Biome. It holds src/ to three house rules (README, Layout):
 *   1. no import cycle (type-only imports included);
 *   2. production code imports nothing from bench/ or test/;
 *   3. SQL (`.prepare(`, a sql`…` template, or a Drizzle query on a `db`) only under src/db/.
 * Prints every violation and exits 1 if there is any.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const src = join(root, "src");
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith(".ts")) files.push(path);
  }
};
walk(src);

const problems = [];
const rel = (p) => relative(root, p);
const graph = new Map();
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const deps = [];
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)) {
    let target = resolve(dirname(file), m[1]);
    if (!target.endsWith(".ts")) {
      try {
        statSync(`${target}.ts`);
        target = `${target}.ts`;
      } catch {
        target = join(target, "index.ts");
      }
    }
    if (!target.startsWith(`${src}/`)) problems.push(`${rel(file)} imports ${rel(target)}, outside src/`);
    deps.push(target);
  }
  graph.set(file, deps);
  if (
    !file.startsWith(join(src, "db/")) &&
    /\.prepare\(|\bsql`|\bdb\s*\.\s*(select|insert|update|delete|batch)\(/.test(text)
  ) {
    problems.push(`${rel(file)} holds SQL; SQL lives under src/db/`);
  }
}

const state = new Map();
const stack = [];
const visit = (node) => {
  state.set(node, "open");
  stack.push(node);
  for (const dep of graph.get(node) ?? []) {
    if (state.get(dep) === "open")
      problems.push(`import cycle: ${[...stack.slice(stack.indexOf(dep)), dep].map(rel).join(" → ")}`);
    else if (!state.has(dep)) visit(dep);
  }
  stack.pop();
  state.set(node, "done");
};
for (const file of files) if (!state.has(file)) visit(file);

if (problems.length > 0) {
  for (const p of problems) console.error(`✗ ${p}`);
  process.exit(1);
}
console.log(
  `architecture: ${files.length} files in src/, no import cycle, nothing from bench/ or test/, SQL only in src/db/`,
);
