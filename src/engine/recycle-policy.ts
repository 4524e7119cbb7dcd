/**
 * When the engine is replaced to give back the memory its runs left behind:
 * a pure decision over what was read (its memory, its size at rest, the runs
 * it has served), carried out by rss-watch.ts. Only the hard limit recycles
 * with runs in progress (they resume in the new engine); every other reason
 * waits until no run is in progress, so no run is ever cut for it.
 */

export interface RecycleSettings {
	/** Bytes of engine memory above which it is recycled once idle (ENGINE_RSS_SOFT_LIMIT); 0: never. */
	readonly softLimit: number;
	/** Bytes of engine memory above which it is recycled at once (ENGINE_RSS_HARD_LIMIT); 0: never. */
	readonly hardLimit: number;
	/** Bytes the engine may grow above its own size at rest before it is recycled once idle (ENGINE_RECYCLE_GROWTH); 0: never. */
	readonly growth: number;
	/** Runs an engine serves before it is recycled once idle (ENGINE_RECYCLE_AFTER_RUNS); 0: never. */
	readonly afterRuns: number;
	/** Shortest time between two limit recycles, so a limit below the engine's own size cannot loop. */
	readonly minGapMs: number;
}

export interface EngineMemory {
	/** The engine's resident memory now, bytes. */
	readonly rss: number;
	/** Its resident memory once warmed up, before any run (bytes); undefined until known. */
	readonly restRss: number | undefined;
	/** Runs that ended in this engine process. */
	readonly runs: number;
	/** A run is in progress. */
	readonly busy: boolean;
	/** Since the last limit recycle (ms); Infinity if none. */
	readonly sinceLimitRecycleMs: number;
}

export type RecycleVerdict =
	| { readonly kind: "keep" }
	/** A reason to recycle, held until no run is in progress. */
	| { readonly kind: "wait"; readonly reason: string }
	| { readonly kind: "recycle"; readonly reason: string; readonly limit: boolean };

const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;

export function recycleVerdict(m: EngineMemory, s: RecycleSettings): RecycleVerdict {
	const limitsAllowed = m.sinceLimitRecycleMs >= s.minGapMs;
	if (limitsAllowed && s.hardLimit > 0 && m.rss > s.hardLimit)
		return {
			kind: "recycle",
			reason: `engine memory ${mib(m.rss)} is above ENGINE_RSS_HARD_LIMIT ${mib(s.hardLimit)}`,
			limit: true,
		};
	const atIdle = (reason: string, limit: boolean): RecycleVerdict =>
		m.busy ? { kind: "wait", reason } : { kind: "recycle", reason, limit };
	if (limitsAllowed && s.softLimit > 0 && m.rss > s.softLimit)
		return atIdle(`engine memory ${mib(m.rss)} is above ENGINE_RSS_SOFT_LIMIT ${mib(s.softLimit)}`, true);
	if (s.growth > 0 && m.restRss !== undefined && m.runs > 0 && m.rss > m.restRss + s.growth)
		return atIdle(
			`engine memory ${mib(m.rss)} is more than ENGINE_RECYCLE_GROWTH ${mib(s.growth)} above its size at rest ${mib(m.restRss)}`,
			false,
		);
	if (s.afterRuns > 0 && m.runs >= s.afterRuns)
		return atIdle(`the engine has served ${m.runs} runs (ENGINE_RECYCLE_AFTER_RUNS ${s.afterRuns})`, false);
	return { kind: "keep" };
}

/** What the settings say before the container's limit is known: `undefined` is `auto`. */
export interface RecycleConfig {
	readonly engineRssSoftLimit: number | undefined;
	readonly engineRssHardLimit: number | undefined;
	readonly engineRecycleGrowth: number | undefined;
	readonly engineRecycleAfterRuns: number;
}

const MIB = 1024 * 1024;

/**
 * The settings, `auto` ones derived from the container's memory limit when it
 * has one: half of it (soft), three quarters (hard) and an eighth (growth), so
 * the engine leaves the rest to the agent's own tools; without a limit, the
 * fixed defaults of before (700 MiB, 900 MiB, growth off).
 */
export function recycleSettings(
	c: RecycleConfig,
	containerLimit: number | undefined,
	minGapMs: number,
): RecycleSettings {
	const auto = (value: number | undefined, share: number, fallback: number) =>
		value ?? (containerLimit === undefined ? fallback : Math.floor((containerLimit * share) / MIB) * MIB);
	return {
		softLimit: auto(c.engineRssSoftLimit, 1 / 2, 700 * MIB),
		hardLimit: auto(c.engineRssHardLimit, 3 / 4, 900 * MIB),
		growth: auto(c.engineRecycleGrowth, 1 / 8, 0),
		afterRuns: c.engineRecycleAfterRuns,
		minGapMs,
	};
}
