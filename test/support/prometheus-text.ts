/**
 * A strict reader of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format),
 * written from the spec and independent of the writer in src/metrics, so the
 * tests can check that every line of a scrape parses and the families hang
 * together. Throws on the first violation, naming the line.
 * Not parse-prometheus-text-format: it is lenient, and this reader exists to reject what Prometheus would.
 */

export interface Sample {
	readonly name: string;
	readonly labels: Readonly<Record<string, string>>;
	readonly value: number;
}

export interface Family {
	readonly name: string;
	help?: string;
	type?: string;
	readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
/** As Go's strconv.ParseFloat (what Prometheus uses) reads it: NaN and Inf in any case; prom-client writes `Nan`. */
const VALUE = /^([nN][aA][nN]|[+-][iI][nN][fF]|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;
const TIMESTAMP = /^-?\d+$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses a whole scrape; families by name, in order of first appearance. */
export function parseExposition(text: string): Map<string, Family> {
	if (!text.endsWith("\n")) throw new Error("the text must end with a line feed");
	const families = new Map<string, Family>();
	const closed = new Set<string>();
	let current: Family | undefined;
	const family = (name: string, at: number): Family => {
		let f = families.get(name);
		if (f && closed.has(name)) throw new Error(`line ${at}: ${name} appears again after other families`);
		if (!f) {
			f = { name, samples: [] };
			families.set(name, f);
		}
		if (current && current !== f) closed.add(current.name);
		current = f;
		return f;
	};
	text
		.slice(0, -1)
		.split("\n")
		.forEach((raw, i) => {
			const at = i + 1;
			const line = raw.replace(/^[ \t]+|[ \t]+$/g, "");
			if (line === "") return;
			if (line.startsWith("#")) {
				const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
				if (!m) return; // any other comment
				const [, keyword, name = "", rest = ""] = m;
				if (!NAME.test(name) || NAME.exec(name)?.[0] !== name) throw new Error(`line ${at}: bad metric name`);
				const f = family(name, at);
				if (keyword === "HELP") {
					if (f.help !== undefined) throw new Error(`line ${at}: second HELP for ${name}`);
					f.help = unescapeText(rest, ["\\", "n"], at);
				} else {
					if (f.type !== undefined) throw new Error(`line ${at}: second TYPE for ${name}`);
					if (f.samples.length > 0) throw new Error(`line ${at}: TYPE after samples of ${name}`);
					if (!TYPES.has(rest)) throw new Error(`line ${at}: unknown type "${rest}"`);
					f.type = rest;
				}
				return;
			}
			const sample = parseSample(line, at);
			const owner = familyOf(sample.name, families) ?? sample.name;
			family(owner, at).samples.push(sample);
		});
	for (const f of families.values()) checkFamily(f);
	return families;
}

/** The family a sample name belongs to: itself, or a histogram/summary it suffixes. */
function familyOf(name: string, families: Map<string, Family>): string | undefined {
	for (const suffix of ["_bucket", "_sum", "_count"]) {
		if (!name.endsWith(suffix)) continue;
		const base = families.get(name.slice(0, -suffix.length));
		if (base?.type === "histogram" || (base?.type === "summary" && suffix !== "_bucket")) return base.name;
	}
	return families.has(name) ? name : undefined;
}

function parseSample(line: string, at: number): Sample {
	const name = NAME.exec(line)?.[0];
	if (!name) throw new Error(`line ${at}: a sample must start with a metric name`);
	let rest = line.slice(name.length);
	const labels: Record<string, string> = {};
	if (rest.startsWith("{")) {
		rest = rest.slice(1);
		for (;;) {
			rest = rest.replace(/^[ \t]+/, "");
			if (rest.startsWith("}")) break;
			const label = LABEL_NAME.exec(rest)?.[0];
			if (!label) throw new Error(`line ${at}: bad label name`);
			if (label in labels) throw new Error(`line ${at}: label ${label} repeats`);
			rest = rest.slice(label.length).replace(/^[ \t]+/, "");
			if (!rest.startsWith('="')) throw new Error(`line ${at}: expected =" after ${label}`);
			rest = rest.slice(2);
			let end = 0;
			while (end < rest.length && rest[end] !== '"') end += rest[end] === "\\" ? 2 : 1;
			if (end >= rest.length) throw new Error(`line ${at}: unterminated value of ${label}`);
			labels[label] = unescapeText(rest.slice(0, end), ["\\", '"', "n"], at);
			rest = rest.slice(end + 1).replace(/^[ \t]+/, "");
			if (rest.startsWith(",")) rest = rest.slice(1);
			else if (!rest.startsWith("}")) throw new Error(`line ${at}: expected , or } after ${label}`);
		}
		rest = rest.slice(1);
	}
	if (!/^[ \t]/.test(rest)) throw new Error(`line ${at}: expected a blank before the value`);
	const [value = "", timestamp, ...extra] = rest.trim().split(/[ \t]+/);
	if (!VALUE.test(value)) throw new Error(`line ${at}: bad value "${value}"`);
	if (timestamp !== undefined && !TIMESTAMP.test(timestamp)) throw new Error(`line ${at}: bad timestamp`);
	if (extra.length > 0) throw new Error(`line ${at}: text after the timestamp`);
	const number = /^nan$/i.test(value)
		? Number.NaN
		: /inf$/i.test(value)
			? Number(`${value.slice(0, -3)}Infinity`)
			: Number(value);
	return { name, labels, value: number };
}

/** Undoes the escapes allowed in `allowed` (`n` is a line feed); any other escape is an error. */
function unescapeText(text: string, allowed: readonly string[], at: number): string {
	return text.replace(/\\(.?)/g, (_, c: string) => {
		if (!allowed.includes(c)) throw new Error(`line ${at}: bad escape \\${c}`);
		return c === "n" ? "\n" : c;
	});
}

/** Counters and gauges have plain samples; a histogram's buckets are cumulative and end at +Inf = _count. */
function checkFamily(f: Family): void {
	if (f.type === "counter" || f.type === "gauge") {
		for (const s of f.samples) if (s.name !== f.name) throw new Error(`${s.name} in ${f.type} ${f.name}`);
		if (f.type === "counter" && f.samples.some((s) => !(s.value >= 0))) throw new Error(`${f.name}: negative counter`);
	}
	if (f.type !== "histogram") return;
	const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
	for (const s of f.samples) {
		const { le, ...rest } = s.labels;
		const key = JSON.stringify(Object.entries(rest).sort());
		const entry = series.get(key) ?? { buckets: [] };
		series.set(key, entry);
		if (s.name === `${f.name}_bucket`) {
			if (le === undefined || !VALUE.test(le)) throw new Error(`${f.name}: bucket without a valid le`);
			entry.buckets.push([le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), s.value]);
		} else if (le !== undefined) throw new Error(`${s.name}: le outside a bucket`);
		else if (s.name === `${f.name}_sum`) entry.sum = s.value;
		else if (s.name === `${f.name}_count`) entry.count = s.value;
		else throw new Error(`${s.name} in histogram ${f.name}`);
	}
	for (const [key, e] of series) {
		const last = e.buckets.at(-1);
		if (last?.[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${key}: no +Inf bucket last`);
		e.buckets.forEach(([le, n], i) => {
			const prev = e.buckets[i - 1];
			if (prev && (le <= prev[0] || n < prev[1])) throw new Error(`${f.name}${key}: buckets not cumulative`);
		});
		if (e.count === undefined || e.sum === undefined) throw new Error(`${f.name}${key}: _sum or _count missing`);
		if (e.count !== last[1]) throw new Error(`${f.name}${key}: +Inf bucket differs from _count`);
	}
}
