import type { Cancel, Clock } from "../../src/lib/clock";

interface Timer {
	readonly seq: number;
	at: number;
	readonly fn: () => void;
	/** Period for intervals; undefined for one-shot timers. */
	readonly every: number | undefined;
}

/**
 * A `Clock` that only moves when told to. `advance(ms)` runs every timer that
 * falls due within the step, in order of due time (ties in creation order),
 * with `now()` set to each timer's due time while it runs.
 */
export class ManualClock implements Clock {
	private current: number;
	private seq = 0;
	private readonly timers = new Map<number, Timer>();

	constructor(startMs = Date.UTC(2026, 0, 1)) {
		this.current = startMs;
	}

	now(): number {
		return this.current;
	}

	setTimeout(fn: () => void, ms: number): Cancel {
		return this.add(fn, Math.max(0, ms), undefined);
	}

	setInterval(fn: () => void, ms: number): Cancel {
		// A zero period would never let `advance` finish; real timers clamp too.
		const every = Math.max(1, ms);
		return this.add(fn, every, every);
	}

	/** Timers scheduled and not yet fired (one-shot) or cancelled. */
	get pendingTimers(): number {
		return this.timers.size;
	}

	/** Moves time forward by `ms`, firing what falls due on the way. */
	advance(ms: number): void {
		if (ms < 0) throw new RangeError("time does not go backwards");
		const target = this.current + ms;
		for (;;) {
			const next = this.nextDue(target);
			if (!next) break;
			this.current = next.at;
			if (next.every === undefined) this.timers.delete(next.seq);
			else next.at += next.every;
			next.fn();
		}
		this.current = target;
	}

	private nextDue(limit: number): Timer | undefined {
		let best: Timer | undefined;
		for (const t of this.timers.values()) {
			if (t.at > limit) continue;
			if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
		}
		return best;
	}

	private add(fn: () => void, delay: number, every: number | undefined): Cancel {
		const seq = ++this.seq;
		this.timers.set(seq, { seq, at: this.current + delay, fn, every });
		return () => {
			this.timers.delete(seq);
		};
	}
}
