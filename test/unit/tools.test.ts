import { describe, expect, test } from "bun:test";
import { refusedTool, TOOL_NAMES, toolSwitches } from "../../src/engine/tools";

const on = (list: string[], readOnly = false) =>
	Object.entries(toolSwitches(list, readOnly))
		.filter(([, v]) => v)
		.map(([k]) => k)
		.sort();

describe("enabled_tools → engine tools", () => {
	test("the contract's example list", () => {
		expect(on(["read", "write", "bash", "edit"])).toEqual([
			"apply_patch",
			"bash",
			"edit",
			"glob",
			"grep",
			"question",
			"read",
			"todowrite",
			"write",
		]);
	});

	test("engine ids give exactly that tool; web gives both web tools; - turns a default off", () => {
		expect(on(["glob"])).toEqual(["glob", "question", "todowrite"]);
		expect(on(["web", "-todo", "-question"])).toEqual(["webfetch", "websearch"]);
		expect(on(["-todowrite"])).toEqual(["question"]);
		expect(on([])).toEqual(["question", "todowrite"]);
	});

	test("task never; read-only agents get no writing tool", () => {
		expect(on(["task", "read"])).not.toContain("task");
		expect(refusedTool(["read", "task"])?.name).toBe("task");
		expect(refusedTool(["read"])).toBeUndefined();
		expect(on(["read", "write", "edit", "bash"], true)).toEqual(["glob", "grep", "question", "read", "todowrite"]);
	});

	test("the accepted names", () => {
		expect(TOOL_NAMES).toEqual(expect.arrayContaining(["read", "edit", "write", "bash", "web", "-todo", "-question"]));
		expect(TOOL_NAMES).not.toContain("task");
	});
});
