import { CONTENT_TYPE, escapeHelp, formatValue, isLabelName, isMetricName, labelPairs, sampleLine } from "./exposition";

/** One value per label of a family, every label given. */
export type LabelValues<L extends string> = Readonly<Record<L, string>>;

/** Arguments of a family without labels (`L` is `never`) or with them (labels first). */
type Labelled<L extends string, Rest extends unknown[]> = [L] extends [never]
	? Rest
	: [labels: LabelValues<L>, ...Rest];

export interface FamilyOptions<L extends string> {
	/** Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
	readonly name: string;
	/** Docstring of the `# HELP` line. */
	readonly help: string;
	/** Label names, in the order they are written; default none. */
	readonly labelNames?: readonly L[];
}

export interface GaugeOptions<L extends string> extends FamilyOptions<L> {
	/** Called on every scrape, before the gauge is written, to set its values. */
	readonly collect?: (gauge: Gauge<L>) => void;
}

export interface HistogramOptions<L extends string> extends FamilyOptions<L> {
	/** Upper bounds of the buckets, increasing and finite; `+Inf` is always added. */
	readonly buckets: readonly number[];
}

/** A metric family: one `# HELP`, one `# TYPE` and its samples. */
abstract class Family<L extends string> {
	readonly name: string;
	readonly help: string;
	readonly labelNames: readonly L[];
	abstract readonly type: "counter" | "gauge" | "histogram";

	constructor(options: FamilyOptions<L>) {
		if (!isMetricName(options.name)) throw new Error(`metric name "${options.name}" is not valid`);
		const labelNames = options.labelNames ?? [];
		for (const label of labelNames) {
			if (!isLabelName(label)) throw new Error(`${options.name}: label name "${label}" is not valid`);
		}
		if (new Set(labelNames).size !== labelNames.length) throw new Error(`${options.name}: label names repeat`);
		this.name = options.name;
		this.help = options.help;
		this.labelNames = [...labelNames];
	}

	/** The family in the text format, without a trailing line feed. */
	render(): string {
		const help = `# HELP ${this.name} ${escapeHelp(this.help)}`;
		return [help, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join("\n");
	}

	protected abstract samples(): string[];

	/** Splits `[labels, ...rest]` (or `rest` alone without labels) and returns the series key with the rest. */
	protected series(args: readonly unknown[]): { key: string; rest: readonly unknown[] } {
		if (this.labelNames.length === 0) return { key: "", rest: args };
		const labels = args[0] as Record<string, unknown> | undefined;
		if (typeof labels !== "object" || labels === null) throw new TypeError(`${this.name}: labels are missing`);
		const values = this.labelNames.map((name) => {
			const value = labels[name];
			if (typeof value !== "string") throw new TypeError(`${this.name}: label "${name}" must be a string`);
			return value;
		});
		if (Object.keys(labels).length !== this.labelNames.length) {
			throw new TypeError(`${this.name}: labels must be exactly ${this.labelNames.join(", ")}`);
		}
		// The written label pairs identify the series: escaping keeps them distinct.
		return { key: labelPairs(this.labelNames, values), rest: args.slice(1) };
	}
}

/** A value that only goes up. Without labels it is written as 0 from the start. */
export class Counter<L extends string = never> extends Family<L> {
	readonly type = "counter";
	private readonly values = new Map<string, number>();

	constructor(options: FamilyOptions<L>) {
		super(options);
		if (this.labelNames.length === 0) this.values.set("", 0);
	}

	/** Adds `value` (default 1, finite and not negative) to the series of `labels`. */
	inc(...args: Labelled<L, [value?: number]>): void {
		const { key, rest } = this.series(args);
		const value = rest[0] ?? 1;
		if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
			throw new RangeError(`${this.name}: a counter goes up by a finite amount, not ${String(value)}`);
		}
		this.values.set(key, (this.values.get(key) ?? 0) + value);
	}

	protected samples(): string[] {
		return [...this.values].map(([labels, value]) => sampleLine(this.name, labels, value));
	}
}

/** A value that goes up and down, usually set by `collect` when scraped. Without labels it starts at 0. */
export class Gauge<L extends string = never> extends Family<L> {
	readonly type = "gauge";
	private readonly values = new Map<string, number>();
	private readonly collect: ((gauge: Gauge<L>) => void) | undefined;

	constructor(options: GaugeOptions<L>) {
		super(options);
		this.collect = options.collect;
		if (this.labelNames.length === 0) this.values.set("", 0);
	}

	/** Sets the series of `labels` to `value`. */
	set(...args: Labelled<L, [value: number]>): void {
		const { key, rest } = this.series(args);
		const value = rest[0];
		if (typeof value !== "number") throw new TypeError(`${this.name}: a gauge is set to a number`);
		this.values.set(key, value);
	}

	protected samples(): string[] {
		this.collect?.(this);
		return [...this.values].map(([labels, value]) => sampleLine(this.name, labels, value));
	}
}

interface HistogramSeries {
	/** Observations per bucket, not cumulative; those above the last bound are only in `count`. */
	readonly perBucket: number[];
	sum: number;
	count: number;
}

/** Observations counted in fixed buckets, written cumulatively with `+Inf`, `_sum` and `_count`. */
export class Histogram<L extends string = never> extends Family<L> {
	readonly type = "histogram";
	readonly buckets: readonly number[];
	private readonly values = new Map<string, HistogramSeries>();

	constructor(options: HistogramOptions<L>) {
		super(options);
		if ((this.labelNames as readonly string[]).includes("le")) throw new Error(`${this.name}: "le" is reserved`);
		const b = options.buckets;
		if (b.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= (b[i - 1] ?? bound)))) {
			throw new Error(`${this.name}: buckets must be finite and increasing`);
		}
		this.buckets = [...b];
		if (this.labelNames.length === 0) this.values.set("", this.emptySeries());
	}

	/** Counts one observation of `value` (finite) in the series of `labels`. */
	observe(...args: Labelled<L, [value: number]>): void {
		const { key, rest } = this.series(args);
		const value = rest[0];
		if (typeof value !== "number" || !Number.isFinite(value)) {
			throw new RangeError(`${this.name}: cannot observe ${String(value)}`);
		}
		let series = this.values.get(key);
		if (!series) {
			series = this.emptySeries();
			this.values.set(key, series);
		}
		const i = this.buckets.findIndex((bound) => value <= bound);
		if (i !== -1) series.perBucket[i] = (series.perBucket[i] ?? 0) + 1;
		series.sum += value;
		series.count += 1;
	}

	protected samples(): string[] {
		const lines: string[] = [];
		for (const [labels, series] of this.values) {
			// `le` first, then the series' labels: the order prom-client wrote, kept so the text stays the same.
			const withLe = (le: string) => (labels === "" ? `le="${le}"` : `le="${le}",${labels}`);
			let cumulative = 0;
			this.buckets.forEach((bound, i) => {
				cumulative += series.perBucket[i] ?? 0;
				lines.push(sampleLine(`${this.name}_bucket`, withLe(formatValue(bound)), cumulative));
			});
			lines.push(sampleLine(`${this.name}_bucket`, withLe("+Inf"), series.count));
			lines.push(sampleLine(`${this.name}_sum`, labels, series.sum));
			lines.push(sampleLine(`${this.name}_count`, labels, series.count));
		}
		return lines;
	}

	private emptySeries(): HistogramSeries {
		return { perBucket: this.buckets.map(() => 0), sum: 0, count: 0 };
	}
}

/** The metric families of a process, written in the order they were created. */
export class Registry {
	readonly contentType = CONTENT_TYPE;
	private readonly families: { readonly name: string; render(): string }[] = [];

	counter<const L extends string = never>(options: FamilyOptions<L>): Counter<L> {
		return this.add(new Counter(options));
	}

	gauge<const L extends string = never>(options: GaugeOptions<L>): Gauge<L> {
		return this.add(new Gauge(options));
	}

	histogram<const L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
		return this.add(new Histogram(options));
	}

	/** Every family in the text format, separated by blank lines, ending with a line feed. */
	render(): string {
		return `${this.families.map((f) => f.render()).join("\n\n")}\n`;
	}

	private add<F extends { readonly name: string; render(): string }>(family: F): F {
		if (this.families.some((f) => f.name === family.name)) throw new Error(`metric ${family.name} exists already`);
		this.families.push(family);
		return family;
	}
}
