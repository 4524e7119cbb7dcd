/**
 * Writes the README's configuration table from src/config/variables.ts
 * (`npm run docs:config`); without `--write` it prints it.
 * test/unit/docs.test.ts fails when README.md and the declarations differ.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configTable, tableSpan } from "../src/config/table";

const table = configTable();
if (process.argv.includes("--write")) {
	const path = join(import.meta.dir, "..", "README.md");
	const readme = readFileSync(path, "utf8");
	const { start, end } = tableSpan(readme);
	writeFileSync(path, `${readme.slice(0, start)}${table}${readme.slice(end)}`);
} else {
	console.log(table);
}
