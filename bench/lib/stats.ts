/** Order statistics of a sample, in the sample's own unit. */
export interface Summary {
	readonly n: number;
	readonly min: number;
	readonly p50: number;
	readonly p90: number;
	readonly p99: number;
	readonly max: number;
	readonly mean: number;
}

/** Nearest-rank percentile of an ascending array (`p` in 0..100). Not simple-statistics: its quantile averages two samples at whole ranks; latency tools report nearest-rank. */
export function percentile(sorted: readonly number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
	const sorted = [...samples].sort((a, b) => a - b);
	const sum = sorted.reduce((a, b) => a + b, 0);
	return {
		n: sorted.length,
		min: sorted[0] ?? Number.NaN,
		p50: percentile(sorted, 50),
		p90: percentile(sorted, 90),
		p99: percentile(sorted, 99),
		max: sorted[sorted.length - 1] ?? Number.NaN,
		mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
	};
}

export function median(samples: readonly number[]): number {
	return percentile(
		[...samples].sort((a, b) => a - b),
		50,
	);
}

/** Rounds for reports: 3 significant digits, never scientific notation. */
export function round(value: number): number {
	if (!Number.isFinite(value) || value === 0) return value;
	const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
	const f = 10 ** Math.min(digits, 6);
	return Math.round(value * f) / f;
}

/** `round` applied to every numeric field. */
export function roundAll(o: object): Record<string, number> {
	return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v as number)]));
}
