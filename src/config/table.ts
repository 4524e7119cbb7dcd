import { VARIABLES } from "./variables";

const cell = (v: string | undefined) => (v === undefined ? "(unset)" : v === "" ? "(empty)" : `\`${v}\``);

/** The README's configuration table (markdown, columns aligned), generated from `VARIABLES`. */
export function configTable(): string {
	const rows = [
		["variable", "default", "accepts", "meaning"],
		...VARIABLES.map((v) => [`\`${v.name}\``, cell(v.default), v.kind.accepts, v.description]),
	];
	const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
	const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
	const [head, ...body] = rows;
	return [line(head ?? []), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** Where the table sits in the README: from its header row to the blank line after it. */
export function tableSpan(readme: string): { start: number; end: number } {
	const start = readme.search(/^\| variable\s*\|/m);
	if (start === -1) throw new Error("README has no configuration table");
	const end = readme.indexOf("\n\n", start);
	return { start, end: end === -1 ? readme.length : end };
}
