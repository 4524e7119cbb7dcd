/**
 * Prints the README's configuration table from src/config/variables.ts
 * (`--write` replaces it in README.md). test/unit/docs.test.ts keeps the two in step.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VARIABLES } from "../src/config/variables";

const cell = (v: string | undefined) => (v === undefined ? "(unset)" : v === "" ? "(empty)" : `\`${v}\``);
const table = [
	"| variable | default | meaning |",
	"|---|---|---|",
	...VARIABLES.map((v) => `| \`${v.name}\` | ${cell(v.default)} | ${v.description} |`),
].join("\n");

if (process.argv.includes("--write")) {
	const path = join(import.meta.dir, "..", "README.md");
	const readme = readFileSync(path, "utf8");
	const start = readme.search(/^\| variable\s*\|/m);
	if (start === -1) throw new Error("README has no configuration table");
	const end = readme.indexOf("\n\n", start);
	writeFileSync(path, `${readme.slice(0, start)}${table}${readme.slice(end)}`);
} else {
	console.log(table);
}
