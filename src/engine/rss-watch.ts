import type { Cancel, Clock } from "../lib/clock";
import { type RecycleSettings, recycleVerdict } from "./recycle-policy";

export interface RssWatchOptions extends Omit<RecycleSettings, "minGapMs"> {
	readonly intervalMs: number;
	/** Shortest time between two limit recycles, so a limit below the engine's baseline cannot loop. */
	readonly minGapMs: number;
	readonly clock: Clock;
	readonly readRss: () => number | undefined;
	readonly busy: () => boolean;
	/** The engine's size at rest (after its warm-up), and the runs it has served; default: unknown, 0. */
	readonly restRss?: () => number | undefined;
	readonly runs?: () => number;
	readonly recycle: (reason: string) => void;
}

/**
 * Watches the engine's memory (it is known to grow to GBs over days) and
 * recycles it as recycle-policy.ts decides: at once above the hard limit (its
 * runs resume in the new engine), else as soon as no run is in progress. The
 * sidecar runs the interval only while runs are in progress and checks once
 * more when the last one ends.
 */
export class RssWatch {
	private lastLimitRecycle = Number.NEGATIVE_INFINITY;
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
		const verdict = recycleVerdict(
			{
				rss,
				restRss: o.restRss?.(),
				runs: o.runs?.() ?? 0,
				busy: o.busy(),
				sinceLimitRecycleMs: now - this.lastLimitRecycle,
			},
			o,
		);
		if (verdict.kind === "keep") return "ok";
		if (verdict.kind === "wait") return "waiting";
		if (verdict.limit) this.lastLimitRecycle = now;
		o.recycle(verdict.reason);
		return "recycled";
	}
}
