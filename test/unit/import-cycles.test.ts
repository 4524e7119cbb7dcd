import { expect, test } from "bun:test";
import { cruise, type ICruiseOptions, type IReporterOutput } from "dependency-cruiser";

/**
 * No import cycle in src/ (type-only imports count: a cycle of types is still two files that
 * must change together). The client under src/engine/v2/gen is generated (`@hey-api/openapi-ts`)
 * and not edited by hand, so it is left out.
 */
test("src/ has no import cycles", async () => {
	const options: ICruiseOptions = {
		tsPreCompilationDeps: true,
		tsConfig: { fileName: "tsconfig.json" },
		doNotFollow: { path: "node_modules" },
		exclude: { path: "^src/engine/v2/gen/" },
		validate: true,
		ruleSet: {
			forbidden: [{ name: "no-circular", severity: "error", from: { path: "^src/" }, to: { circular: true } }],
		},
	};
	const result: IReporterOutput = await cruise(["src"], options);
	if (typeof result.output === "string") throw new Error("dependency-cruiser answered text, not its result object");
	const cycles = result.output.summary.violations.map((v) =>
		[v.from, ...(v.cycle ?? []).map((c) => c.name)].join(" -> "),
	);
	expect(cycles).toEqual([]);
	// The check really walked the sources.
	expect(result.output.modules.length).toBeGreaterThan(100);
	// Parsing every source takes seconds on a loaded machine.
}, 120_000);
