import { describe, expect, it } from "bun:test";
import type { LoggedEvent } from "../../src/events/catalogue";
import { joinOutputs } from "../../src/events/coalesce";

const T1 = "2026-01-01T00:00:00.001Z";
const T2 = "2026-01-01T00:00:00.002Z";

type Output = Extract<LoggedEvent, { event: "output" }>["data"];
const out = (text: string, more: Partial<Output> = {}, timestamp = T1): LoggedEvent => ({
	event: "output",
	data: { type: "stdout", text, source: "assistant", timestamp, ...more },
});

describe("joinOutputs", () => {
	it("joins two pieces of assistant text, keeping the first timestamp", () => {
		expect(joinOutputs(out("Hel"), out("lo", {}, T2))).toEqual(out("Hello"));
	});

	it.each(["reasoning", "assistant"] as const)("joins %s pieces", (source) => {
		expect(joinOutputs(out("a", { source }), out("b", { source }))).toEqual(out("ab", { source }));
	});

	it("joins a tool's live output within one call, keeping tool and call_id", () => {
		const more = { source: "tool", tool: "bash", call_id: "c1" } as const;
		expect(joinOutputs(out("1\n", more), out("2\n", more))).toEqual(out("1\n2\n", more));
	});

	it.each([
		["different sources", out("a"), out("b", { source: "reasoning" })],
		["stdout and stderr", out("a"), out("b", { type: "stderr" })],
		[
			"different calls",
			out("a", { source: "tool", tool: "bash", call_id: "c1" }),
			out("b", { source: "tool", tool: "bash", call_id: "c2" }),
		],
		[
			"different tools",
			out("a", { source: "tool", tool: "bash", call_id: "c1" }),
			out("b", { source: "tool", tool: "read", call_id: "c1" }),
		],
		[
			"sidecar notes (each is a milestone)",
			out("Done: a (1/2)\n", { source: "sidecar" }),
			out("Done: b (2/2)\n", { source: "sidecar" }),
		],
		[
			"an output and another event",
			out("a"),
			{ event: "status", data: { status: "running", timestamp: T1 } } as LoggedEvent,
		],
	])("does not join %s", (_name, a, b) => {
		expect(joinOutputs(a, b)).toBeUndefined();
	});

	it("joining many pieces in order gives the whole text", () => {
		const pieces = Array.from({ length: 50 }, (_, i) => out(`w${i} `));
		const joined = pieces.slice(1).reduce((acc, p) => joinOutputs(acc, p) as LoggedEvent, pieces[0] as LoggedEvent);
		expect(joined).toEqual(out(pieces.map((p) => (p.data as Output).text).join("")));
	});
});
