import type { Cancel, Clock } from "../lib/clock";

export interface RssWatchOptions {
	/** Bytes; 0 turns the limit off. */
	readonly softLimit: number;
	readonly hardLimit: number;
	readonly intervalMs: number;
	/** Shortest time between two recycles, so a limit below the engine's baseline cannot loop. */
	readonly minGapMs: number;
	readonly clock: Clock;
	readonly readRss: () => number | undefined;
	readonly busy: () => boolean;
	readonly recycle: (reason: string) => void;
}

/**
 * Watches the engine's memory (it is known to grow to GBs over days). Above
 * the soft limit it recycles the engine as soon as no run is in progress;
 * above the hard limit at once (its runs resume in the new engine).
 */
export class RssWatch {
	private lastRecycle = Number.NEGATIVE_INFINITY;
	private stop: Cancel | undefined;

	constructor(private readonly options: RssWatchOptions) {}

	start(): void {
		this.stop ??= this.options.clock.setInterval(() => this.check(), this.options.intervalMs);
	}

	close(): void {
		this.stop?.();
		this.stop = undefined;
	}

	/** One check; returns what it did (for tests and logs). */
	check(): "recycled" | "waiting" | "ok" {
		const o = this.options;
		const rss = o.readRss();
		if (rss === undefined) return "ok";
		const now = o.clock.now();
		if (now - this.lastRecycle < o.minGapMs) return "ok";
		const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;
		if (o.hardLimit > 0 && rss > o.hardLimit) {
			this.lastRecycle = now;
			o.recycle(`engine memory ${mib(rss)} is above ENGINE_RSS_HARD_LIMIT ${mib(o.hardLimit)}`);
			return "recycled";
		}
		if (o.softLimit > 0 && rss > o.softLimit) {
			if (o.busy()) return "waiting";
			this.lastRecycle = now;
			o.recycle(`engine memory ${mib(rss)} is above ENGINE_RSS_SOFT_LIMIT ${mib(o.softLimit)}`);
			return "recycled";
		}
		return "ok";
	}
}
