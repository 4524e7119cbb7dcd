import { describe, expect, test } from "bun:test";
import {
	describeCall,
	diffLines,
	expandRanges,
	idRanges,
	route,
	secondsLeft,
	shortTime,
} from "../../src/ui/client/format";
import { EventLedger } from "../../src/ui/client/ledger";

describe("EventLedger", () => {
	test("accepts each id once, in order, and resumes after the highest", () => {
		const l = new EventLedger();
		expect(l.lastId).toBe(0);
		expect([1, 2, 3].map((id) => l.accept(id))).toEqual([true, true, true]);
		// A reconnect that replays from an older id (or a duplicate frame) shows nothing twice.
		expect([2, 3].map((id) => l.accept(id))).toEqual([false, false]);
		expect(l.accept(4)).toBe(true);
		expect(l.lastId).toBe(4);
	});

	test("refuses ids that are not positive integers", () => {
		const l = new EventLedger();
		for (const id of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(l.accept(id)).toBe(false);
		expect(l.lastId).toBe(0);
	});
});

describe("format", () => {
	test("diffLines colours additions, deletions, hunks and headers", () => {
		const diff = "Index: a.txt\n===\n--- a.txt\n+++ a.txt\n@@ -1,2 +1,2 @@\n same\n-old\n+new\n";
		expect(diffLines(diff).map((l) => l.kind)).toEqual([
			"meta",
			"meta",
			"meta",
			"meta",
			"hunk",
			"context",
			"del",
			"add",
		]);
	});

	test("describeCall shows the command of bash and the path of file tools, cut when long", () => {
		expect(describeCall("bash", { command: "ls -la", description: "list" })).toBe("ls -la");
		expect(describeCall("write", { filePath: "a.txt", content: "x" })).toBe("a.txt");
		expect(describeCall("todowrite", { todos: [] })).toBe('{"todos":[]}');
		expect(describeCall("bash", { command: "x".repeat(500) })).toHaveLength(160);
	});

	test("secondsLeft rounds up and never goes below zero", () => {
		const now = Date.parse("2026-01-01T00:00:00.000Z");
		expect(secondsLeft("2026-01-01T00:00:09.200Z", now)).toBe(10);
		expect(secondsLeft("2025-12-31T23:59:00.000Z", now)).toBe(0);
		expect(secondsLeft("not a time", now)).toBe(0);
	});

	test("shortTime and route", () => {
		expect(shortTime("2026-01-01T10:20:30.123Z")).toBe("2026-01-01 10:20:30");
		expect(shortTime(null)).toBe("–");
		expect(route("/ui")).toEqual({ view: "list" });
		expect(route("/ui/")).toEqual({ view: "list" });
		expect(route("/ui/sessions/abc")).toEqual({ view: "session", id: "abc" });
		expect(route("/ui/other/thing")).toEqual({ view: "unknown" });
	});

	test("idRanges compacts ascending ids and expandRanges restores them", () => {
		expect(idRanges([])).toBe("");
		expect(idRanges([4])).toBe("4");
		expect(idRanges([1, 2, 3, 5, 7, 8])).toBe("1-3,5,7-8");
		for (const ids of [[], [1], [1, 2, 3, 5, 7, 8], [2, 4, 6], [10, 11, 12, 13]])
			expect(expandRanges(idRanges(ids))).toEqual(ids);
	});
});
