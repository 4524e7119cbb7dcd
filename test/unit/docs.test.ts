import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { configTable, tableSpan } from "../../src/config/table";
import { VARIABLES } from "../../src/config/variables";
import { ENGINE_TOOLS, TOOL_NAMES } from "../../src/engine/tools";
import { ERROR_CODES, EVENT_CATALOGUE } from "../../src/events/catalogue";

const root = join(import.meta.dir, "../..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const contract = readFileSync(join(root, "API_CONTRACT.md"), "utf8");

/** A markdown table row whose first cell is `name` in backticks. */
const rowOf = (text: string, name: string) =>
	text.split("\n").find((line) => line.replace(/\s+/g, " ").startsWith(`| \`${name}\` |`));

test("the README's configuration table is the one generated from the declarations (npm run docs:config)", () => {
	const { start, end } = tableSpan(readme);
	expect(readme.slice(start, end)).toBe(configTable());
});

test("the README's configuration table lists every variable with its default", () => {
	for (const v of VARIABLES) {
		const row = rowOf(readme, v.name);
		expect(row, v.name).toBeDefined();
		if (v.default) expect(row).toContain(`\`${v.default}\``);
	}
});

test("API_CONTRACT.md documents every event, error code, tool and variable", () => {
	for (const name of Object.keys(EVENT_CATALOGUE)) expect(rowOf(contract, name), name).toBeDefined();
	for (const code of ERROR_CODES) expect(contract).toContain(`\`${code}\``);
	for (const tool of [...ENGINE_TOOLS, ...TOOL_NAMES]) expect(contract).toContain(`\`${tool}\``);
	for (const v of VARIABLES) expect(contract).toContain(`\`${v.name}\``);
});
