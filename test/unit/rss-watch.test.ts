import { describe, expect, test } from "bun:test";
import { RssWatch } from "../../src/engine/rss-watch";
import { ManualClock } from "../support/manual-clock";

const MIB = 1024 * 1024;

function watch(over: { rss: number; busy?: boolean; soft?: number; hard?: number }) {
	const clock = new ManualClock(0);
	const state = { rss: over.rss, busy: over.busy ?? false };
	const recycled: string[] = [];
	const w = new RssWatch({
		softLimit: (over.soft ?? 700) * MIB,
		hardLimit: (over.hard ?? 900) * MIB,
		growth: 0,
		afterRuns: 0,
		intervalMs: 30_000,
		minGapMs: 600_000,
		clock,
		readRss: () => state.rss * MIB,
		busy: () => state.busy,
		recycle: (reason) => recycled.push(reason),
	});
	return { w, clock, state, recycled };
}

describe("RssWatch", () => {
	test("below the soft limit nothing happens", () => {
		const { w, recycled } = watch({ rss: 500 });
		expect(w.check()).toBe("ok");
		expect(recycled).toEqual([]);
	});

	test("above the soft limit it waits for the runs to finish, then recycles", () => {
		const { w, state, recycled } = watch({ rss: 750, busy: true });
		expect(w.check()).toBe("waiting");
		state.busy = false;
		expect(w.check()).toBe("recycled");
		expect(recycled[0]).toContain("ENGINE_RSS_SOFT_LIMIT");
	});

	test("above the hard limit it recycles at once, even with runs in progress", () => {
		const { w, recycled } = watch({ rss: 950, busy: true });
		expect(w.check()).toBe("recycled");
		expect(recycled[0]).toContain("ENGINE_RSS_HARD_LIMIT");
	});

	test("never recycles twice within the minimum gap, so a low limit cannot loop", () => {
		const { w, clock, recycled } = watch({ rss: 800 });
		expect(w.check()).toBe("recycled");
		clock.advance(300_000);
		expect(w.check()).toBe("ok");
		clock.advance(300_001);
		expect(w.check()).toBe("recycled");
		expect(recycled.length).toBe(2);
	});

	test("a limit of 0 is off; the interval timer is released on close", () => {
		const { w, clock, recycled } = watch({ rss: 5000, soft: 0, hard: 0 });
		w.start();
		expect(clock.pendingTimers).toBe(1);
		clock.advance(120_000);
		expect(recycled).toEqual([]);
		w.close();
		expect(clock.pendingTimers).toBe(0);
	});
});

describe("RssWatch with the engine's rest size and runs", () => {
	test("an engine grown past its rest size is recycled when checked at idle, not while a run is in progress", () => {
		const clock = new ManualClock(0);
		const state = { busy: true };
		const recycled: string[] = [];
		const w = new RssWatch({
			softLimit: 700 * MIB,
			hardLimit: 900 * MIB,
			growth: 100 * MIB,
			afterRuns: 0,
			intervalMs: 30_000,
			minGapMs: 600_000,
			clock,
			readRss: () => 480 * MIB,
			restRss: () => 350 * MIB,
			runs: () => 3,
			busy: () => state.busy,
			recycle: (reason) => recycled.push(reason),
		});
		expect(w.check()).toBe("waiting");
		state.busy = false;
		expect(w.check()).toBe("recycled");
		expect(recycled[0]).toContain("ENGINE_RECYCLE_GROWTH");
	});
});
