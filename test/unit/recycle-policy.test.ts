import { describe, expect, test } from "bun:test";
import { type EngineMemory, recycleSettings, recycleVerdict } from "../../src/engine/recycle-policy";

const MIB = 1024 * 1024;
const settings = { softLimit: 700 * MIB, hardLimit: 900 * MIB, growth: 128 * MIB, afterRuns: 20, minGapMs: 600_000 };
const at = (m: Partial<EngineMemory>): EngineMemory => ({
	rss: 400 * MIB,
	restRss: 350 * MIB,
	runs: 1,
	busy: false,
	sinceLimitRecycleMs: Number.POSITIVE_INFINITY,
	...m,
});

describe("the recycle policy", () => {
	test("keeps an engine near its size at rest", () => {
		expect(recycleVerdict(at({}), settings)).toEqual({ kind: "keep" });
	});

	test("an engine grown past its rest size waits for the runs, then is recycled at idle", () => {
		const grown = at({ rss: 500 * MIB, busy: true });
		expect(recycleVerdict(grown, settings).kind).toBe("wait");
		const v = recycleVerdict({ ...grown, busy: false }, settings);
		expect(v).toMatchObject({ kind: "recycle", limit: false });
		expect(v.kind === "recycle" && v.reason).toContain("ENGINE_RECYCLE_GROWTH");
	});

	test("growth counts only once the rest size is known and a run has ended in the engine", () => {
		expect(recycleVerdict(at({ rss: 500 * MIB, restRss: undefined }), settings).kind).toBe("keep");
		expect(recycleVerdict(at({ rss: 500 * MIB, runs: 0 }), settings).kind).toBe("keep");
	});

	test("after N runs it is recycled at idle, never during a run", () => {
		expect(recycleVerdict(at({ runs: 20, busy: true }), settings).kind).toBe("wait");
		const v = recycleVerdict(at({ runs: 20 }), settings);
		expect(v.kind === "recycle" && v.reason).toContain("ENGINE_RECYCLE_AFTER_RUNS");
		expect(recycleVerdict(at({ runs: 19 }), settings).kind).toBe("keep");
	});

	test("only the hard limit cuts runs (they resume); limits respect the minimum gap", () => {
		expect(recycleVerdict(at({ rss: 950 * MIB, busy: true }), settings)).toMatchObject({
			kind: "recycle",
			limit: true,
		});
		expect(recycleVerdict(at({ rss: 750 * MIB, busy: true }), settings).kind).toBe("wait");
		expect(recycleVerdict(at({ rss: 950 * MIB, restRss: 900 * MIB, sinceLimitRecycleMs: 1000 }), settings).kind).toBe(
			"keep",
		);
	});

	test("0 turns each rule off", () => {
		const off = { softLimit: 0, hardLimit: 0, growth: 0, afterRuns: 0, minGapMs: 0 };
		expect(recycleVerdict(at({ rss: 5000 * MIB, runs: 1000 }), off).kind).toBe("keep");
	});
});

describe("the recycle settings", () => {
	const auto = { engineRssSoftLimit: undefined, engineRssHardLimit: undefined, engineRecycleGrowth: undefined };

	test("without a container limit `auto` is the fixed defaults of before, growth off", () => {
		expect(recycleSettings({ ...auto, engineRecycleAfterRuns: 0 }, undefined, 1)).toEqual({
			softLimit: 700 * MIB,
			hardLimit: 900 * MIB,
			growth: 0,
			afterRuns: 0,
			minGapMs: 1,
		});
	});

	test("with a 1 GiB limit `auto` leaves the engine half, three quarters at most, and 128 MiB of growth", () => {
		expect(recycleSettings({ ...auto, engineRecycleAfterRuns: 5 }, 1024 * MIB, 1)).toEqual({
			softLimit: 512 * MIB,
			hardLimit: 768 * MIB,
			growth: 128 * MIB,
			afterRuns: 5,
			minGapMs: 1,
		});
	});

	test("a value that is set wins over the limit", () => {
		const s = recycleSettings(
			{ engineRssSoftLimit: 300 * MIB, engineRssHardLimit: 0, engineRecycleGrowth: 0, engineRecycleAfterRuns: 0 },
			1024 * MIB,
			1,
		);
		expect(s).toMatchObject({ softLimit: 300 * MIB, hardLimit: 0, growth: 0 });
	});
});
