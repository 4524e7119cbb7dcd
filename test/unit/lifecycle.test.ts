import { describe, expect, it } from "bun:test";
import { FormatRegistry } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import {
	type ErrorCode,
	EVENT_CATALOGUE,
	isTerminal,
	type LoggedEvent,
	TERMINAL_STATUSES,
	type Usage,
} from "../../src/events/catalogue";
import { type RunEnd, terminalEvents } from "../../src/sessions/lifecycle";

const T = "2026-03-04T05:06:07.089Z";
const usage: Usage = {
	input_tokens: 10,
	output_tokens: 5,
	reasoning_tokens: 1,
	cache_read_tokens: 2,
	cache_write_tokens: 3,
	cost: 0.25,
};

// TypeBox knows no string formats until they are registered (Elysia does it in the app).
if (!FormatRegistry.Has("date-time"))
	FormatRegistry.Set("date-time", (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v));

/** Each event's payload must satisfy its catalogue schema. */
function expectValid(e: LoggedEvent): void {
	expect(Value.Check(EVENT_CATALOGUE[e.event].schema, e.data)).toBe(true);
}

describe("terminalEvents", () => {
	it("ends a completed run with status completed, then complete", () => {
		const events = terminalEvents(
			{
				status: "completed",
				finalMessage: "All done.",
				filesModified: ["out.txt", "src/a.ts"],
				usage,
			},
			T,
		);
		expect(events).toEqual([
			{ event: "status", data: { status: "completed", timestamp: T } },
			{
				event: "complete",
				data: {
					final_message: "All done.",
					files_modified: ["out.txt", "src/a.ts"],
					usage,
					timestamp: T,
				},
			},
		]);
		for (const e of events) expectValid(e);
		expect(events.map(isTerminal)).toEqual([false, true]);
	});

	it.each<[RunEnd["status"], ErrorCode, string]>([
		["failed", "provider_auth", "provider rejected the credentials (401)"],
		["failed", "engine_error", "engine crashed"],
		["cancelled", "cancelled", "cancelled by the backend"],
		["timeout", "timeout", "run exceeded 3600 s"],
	])("ends a %s run with its status, then a fatal error with code %s", (status, code, error) => {
		const events = terminalEvents({ status, code, error } as RunEnd, T);
		expect(events).toEqual([
			{ event: "status", data: { status, timestamp: T } },
			{ event: "error", data: { error, fatal: true, code, timestamp: T } },
		]);
		for (const e of events) expectValid(e);
		expect(events.map(isTerminal)).toEqual([false, true]);
	});

	it("always uses a terminal status in the status event", () => {
		for (const status of ["failed", "cancelled", "timeout"] as const) {
			const [first] = terminalEvents({ status, code: "interrupted", error: "x" }, T);
			expect(first?.event === "status" && TERMINAL_STATUSES.has(first.data.status)).toBe(true);
		}
	});
});

describe("isTerminal", () => {
	const cases: [string, LoggedEvent, boolean][] = [
		[
			"complete",
			{
				event: "complete",
				data: { final_message: "", files_modified: [], timestamp: T },
			},
			true,
		],
		[
			"a fatal error",
			{
				event: "error",
				data: { error: "x", fatal: true, code: "engine_error", timestamp: T },
			},
			true,
		],
		[
			"a non-fatal error",
			{
				event: "error",
				data: {
					error: "rate limited",
					fatal: false,
					code: "provider_rate_limited",
					retry_after: 5,
					timestamp: T,
				},
			},
			false,
		],
		["a terminal status", { event: "status", data: { status: "completed", timestamp: T } }, false],
		[
			"output",
			{
				event: "output",
				data: { type: "stdout", text: "hi", source: "assistant", timestamp: T },
			},
			false,
		],
		[
			"a tool call",
			{
				event: "tool_call",
				data: { tool: "bash", args: {}, call_id: "c", timestamp: T },
			},
			false,
		],
		[
			"a failed tool result",
			{
				event: "tool_result",
				data: {
					tool: "bash",
					result: { error: "boom" },
					call_id: "c",
					is_error: true,
					timestamp: T,
				},
			},
			false,
		],
	];

	it.each(cases)("%s → %p", (_label, event, expected) => {
		expect(isTerminal(event)).toBe(expected);
	});
});
