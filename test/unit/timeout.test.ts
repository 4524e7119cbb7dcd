import { describe, expect, it } from "bun:test";
import { deadline, TimedOut, withTimeout } from "../../src/lib/timeout";
import { ManualClock } from "../support/manual-clock";

/** A promise settled by hand. */
function pending<T>() {
	let resolve!: (v: T) => void;
	let reject!: (e: unknown) => void;
	const promise = new Promise<T>((a, b) => {
		resolve = a;
		reject = b;
	});
	return { promise, resolve, reject };
}

describe("withTimeout on the injected clock", () => {
	it("rejects with TimedOut when the clock reaches the limit, not a millisecond before", async () => {
		const clock = new ManualClock();
		const work = pending<string>();
		let settled: unknown;
		const call = withTimeout(clock, 10_000, work.promise).catch((e: unknown) => {
			settled = e;
		});
		clock.advance(9_999);
		await Promise.resolve();
		expect(settled).toBeUndefined();
		clock.advance(1);
		await call;
		expect(settled).toBeInstanceOf(TimedOut);
		expect((settled as TimedOut).message).toBe("timed out after 10000 ms");
	});

	it("settles like the work when it finishes first, and leaves no timer behind", async () => {
		const clock = new ManualClock();
		const ok = pending<number>();
		const a = withTimeout(clock, 1_000, ok.promise);
		ok.resolve(7);
		expect(await a).toBe(7);
		const bad = pending<number>();
		const b = withTimeout(clock, 1_000, bad.promise);
		bad.reject(new Error("refused"));
		await expect(b).rejects.toThrow("refused");
		expect(clock.pendingTimers).toBe(0);
	});

	it("hands the work an AbortSignal that aborts at the deadline", async () => {
		const clock = new ManualClock();
		let seen: AbortSignal | undefined;
		const call = withTimeout(clock, 500, (signal) => {
			seen = signal;
			return new Promise<void>((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
		});
		expect(seen?.aborted).toBe(false);
		clock.advance(500);
		await expect(call).rejects.toBeInstanceOf(TimedOut);
		expect(seen?.aborted).toBe(true);
	});

	it("a deadline cancelled in time never aborts", () => {
		const clock = new ManualClock();
		const d = deadline(clock, 100);
		d.cancel();
		clock.advance(1_000);
		expect(d.signal.aborted).toBe(false);
	});
});
