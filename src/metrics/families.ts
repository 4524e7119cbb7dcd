import { Counter, Gauge, Histogram, type Registry } from "./prom";

interface FamilyOptions<L extends string> {
	readonly name: string;
	readonly help: string;
	readonly labelNames?: readonly L[];
}

/**
 * Shorthands that create prom-client families in one registry, so a series
 * is declared in one call (`r.counter({ name, help, labelNames })`). A
 * gauge's `collect` gets the gauge as an argument rather than as `this`.
 */
export function families(registry: Registry) {
	const base = <L extends string>(o: FamilyOptions<L>) => ({
		name: o.name,
		help: o.help,
		labelNames: [...(o.labelNames ?? [])],
		registers: [registry],
	});
	return {
		counter: <const L extends string = never>(o: FamilyOptions<L>) => new Counter<L>(base(o)),
		gauge: <const L extends string = never>(o: FamilyOptions<L> & { readonly collect?: (g: Gauge<L>) => void }) =>
			new Gauge<L>({
				...base(o),
				collect() {
					o.collect?.(this);
				},
			}),
		histogram: <const L extends string = never>(o: FamilyOptions<L> & { readonly buckets: readonly number[] }) =>
			new Histogram<L>({ ...base(o), buckets: [...o.buckets] }),
	};
}
