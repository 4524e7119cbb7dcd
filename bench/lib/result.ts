/**
 * One line of the results table: a figure measured side by side with its
 * baseline in the same run, how the two compare, and the goal.
 */
export interface Row {
	/** Stable key in results.json, e.g. `relay.latency.p50`. */
	readonly id: string;
	readonly figure: string;
	/** What was measured next to it in the same run; undefined when the issue names none. */
	readonly baseline?: Quantity & { readonly label: string };
	readonly measured: Quantity;
	/** How measured compares with the baseline (a ratio, or an added amount), as shown. */
	readonly comparison?: {
		readonly kind: "ratio" | "added";
		readonly value: number;
	};
	readonly goal: string;
	/** Undefined when the goal is only "reported". */
	readonly met?: boolean;
	/** Raw figures behind the row (sample sizes, percentiles, settings). */
	readonly detail?: Record<string, unknown>;
}

export interface Quantity {
	readonly value: number;
	readonly unit: string;
}

/** What a row module hands back: its rows, and notes for the closing section. */
export interface RowResult {
	readonly rows: Row[];
	readonly notes?: string[];
}

export const ratio = (measured: number, baseline: number): number =>
	baseline === 0 ? Number.NaN : measured / baseline;
