import { describe, expect, test } from "bun:test";
import { OpenTools } from "../../src/resources/open-tools";
import { calm, pressureStep } from "../../src/resources/pressure";

const MIB = 1024 * 1024;
const limit = 1024 * MIB;

describe("memory pressure", () => {
	test("warns once per crossing of the threshold, again only after usage went clearly below it", () => {
		const step = (s: typeof calm, usage: number) => pressureStep(s, { usage, limit, tools: 300 * MIB }, 90);
		const a = step(calm, 800 * MIB);
		expect(a.warning).toBeUndefined();
		const b = step(a.state, 950 * MIB);
		expect(b.warning).toContain("950 MiB of its 1024 MiB limit");
		expect(b.warning).toContain("tool processes use 300 MiB");
		expect(step(b.state, 960 * MIB).warning).toBeUndefined();
		// Just below the threshold: still the same crossing.
		const c = step(b.state, 910 * MIB);
		expect(c.warning).toBeUndefined();
		expect(step(c.state, 950 * MIB).warning).toBeUndefined();
		const d = step(c.state, 800 * MIB);
		expect(step(d.state, 950 * MIB).warning).toBeDefined();
	});

	test("no limit, or 0 %, never warns", () => {
		expect(pressureStep(calm, { usage: 10 ** 12, limit: undefined, tools: 0 }, 90).warning).toBeUndefined();
		expect(pressureStep(calm, { usage: 10 ** 12, limit, tools: 0 }, 0).warning).toBeUndefined();
	});
});

describe("open tools", () => {
	test("a session has a tool in progress from its tool_call to its tool_result or the run's end", () => {
		const t = new OpenTools();
		const ts = "2026-01-01T00:00:00.000Z";
		t.stored("a", { id: 1, event: "tool_call", data: { tool: "bash", args: {}, call_id: "c1", timestamp: ts } });
		t.stored("b", { id: 1, event: "tool_call", data: { tool: "bash", args: {}, call_id: "c2", timestamp: ts } });
		expect(t.sessions().sort()).toEqual(["a", "b"]);
		t.stored("a", {
			id: 2,
			event: "tool_result",
			data: {
				tool: "bash",
				result: { output: "", title: "", metadata: {} },
				call_id: "c1",
				is_error: false,
				timestamp: ts,
			},
		});
		t.stored("b", { id: 2, event: "error", data: { error: "x", fatal: true, code: "cancelled", timestamp: ts } });
		expect(t.sessions()).toEqual([]);
	});
});
