import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SessionStatusName } from "../../src/events/catalogue";
import { escapeHelp, escapeLabelValue, formatValue } from "../../src/metrics/exposition";
import { Metrics } from "../../src/metrics/metrics";
import { Registry } from "../../src/metrics/registry";
import { Prng } from "../support/prng";
import { parseExposition } from "../support/prometheus-text";

const fixture = (name: string) => readFileSync(join(import.meta.dir, "../fixtures/metrics", name), "utf8");

describe("Counter", () => {
	it("without labels is written as 0 before its first increment", () => {
		const r = new Registry();
		const c = r.counter({ name: "jobs_total", help: "Jobs done" });
		expect(r.render()).toBe("# HELP jobs_total Jobs done\n# TYPE jobs_total counter\njobs_total 0\n");
		c.inc();
		c.inc(2.5);
		expect(r.render()).toBe("# HELP jobs_total Jobs done\n# TYPE jobs_total counter\njobs_total 3.5\n");
	});

	it("with labels writes no sample until a series is counted, then each series in first-seen order", () => {
		const r = new Registry();
		const c = r.counter({ name: "calls_total", help: "Calls", labelNames: ["provider", "outcome"] });
		expect(r.render()).toBe("# HELP calls_total Calls\n# TYPE calls_total counter\n");
		c.inc({ provider: "b", outcome: "2xx" });
		c.inc({ outcome: "5xx", provider: "a" }, 3);
		c.inc({ provider: "b", outcome: "2xx" });
		c.inc({ provider: "c", outcome: "4xx" }, 0);
		expect(r.render()).toBe(
			[
				"# HELP calls_total Calls",
				"# TYPE calls_total counter",
				'calls_total{provider="b",outcome="2xx"} 2',
				'calls_total{provider="a",outcome="5xx"} 3',
				'calls_total{provider="c",outcome="4xx"} 0',
				"",
			].join("\n"),
		);
	});

	it("refuses to go down or by a non-finite amount, and leaves the value as it was", () => {
		const r = new Registry();
		const c = r.counter({ name: "n_total", help: "n" });
		c.inc(2);
		for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => c.inc(bad)).toThrow(RangeError);
		expect(r.render()).toEndWith("\nn_total 2\n");
	});

	it("takes labels exactly when the family has them (checked by tsc)", () => {
		const r = new Registry();
		const plain = r.counter({ name: "p_total", help: "p" });
		const labelled = r.counter({ name: "l_total", help: "l", labelNames: ["provider", "kind"] });
		const misuse = () => {
			// @ts-expect-error: no labels on this family
			plain.inc({ provider: "a" });
			// @ts-expect-error: labels are required
			labelled.inc();
			// @ts-expect-error: every label is required
			labelled.inc({ provider: "a" });
			// @ts-expect-error: only the family's labels
			labelled.inc({ provider: "a", kind: "input", other: "x" });
		};
		expect(misuse).toThrow();
		plain.inc(2);
		labelled.inc({ provider: "a", kind: "input" }, 3);
		expect(r.render()).toContain('l_total{provider="a",kind="input"} 3\n');
	});

	it("refuses missing, extra and non-string labels", () => {
		const c = new Registry().counter({ name: "e_total", help: "e", labelNames: ["event"] });
		const loose = c as unknown as { inc(labels?: unknown, value?: number): void };
		expect(() => loose.inc()).toThrow(TypeError);
		expect(() => loose.inc({})).toThrow(TypeError);
		expect(() => loose.inc({ event: 7 })).toThrow(TypeError);
		expect(() => loose.inc({ event: "a", other: "b" })).toThrow(TypeError);
	});
});

describe("Gauge", () => {
	it("is set by its collect callback on every scrape", () => {
		let open = 2;
		let calls = 0;
		const r = new Registry();
		r.gauge({
			name: "open_streams",
			help: "Open streams",
			collect: (g) => {
				calls++;
				g.set(open);
			},
		});
		expect(r.render()).toBe("# HELP open_streams Open streams\n# TYPE open_streams gauge\nopen_streams 2\n");
		open = 0;
		expect(r.render()).toEndWith("\nopen_streams 0\n");
		expect(calls).toBe(2);
	});

	it("with labels keeps each series it was given, in first-set order", () => {
		const counts: Record<string, number> = { running: 1, completed: 4 };
		const r = new Registry();
		r.gauge({
			name: "sessions",
			help: "Sessions by status",
			labelNames: ["status"],
			collect: (g) => {
				for (const [status, n] of Object.entries(counts)) g.set({ status }, n);
			},
		});
		expect(r.render()).toBe(
			'# HELP sessions Sessions by status\n# TYPE sessions gauge\nsessions{status="running"} 1\nsessions{status="completed"} 4\n',
		);
	});

	it("without collect starts at 0 and may go negative or be NaN", () => {
		const r = new Registry();
		const g = r.gauge({ name: "delta", help: "d" });
		expect(r.render()).toEndWith("\ndelta 0\n");
		g.set(-1.5);
		expect(r.render()).toEndWith("\ndelta -1.5\n");
		g.set(Number.NaN);
		expect(r.render()).toEndWith("\ndelta NaN\n");
	});
});

describe("Histogram", () => {
	it("writes buckets cumulatively with +Inf, then _sum and _count, per series", () => {
		const r = new Registry();
		const h = r.histogram({
			name: "rt_seconds",
			help: "Response time",
			labelNames: ["provider"],
			buckets: [0.1, 1, 5],
		});
		expect(r.render()).toBe("# HELP rt_seconds Response time\n# TYPE rt_seconds histogram\n");
		for (const v of [0.05, 0.1, 0.5, 3, 7]) h.observe({ provider: "a" }, v);
		h.observe({ provider: "b" }, 2);
		expect(r.render()).toBe(
			[
				"# HELP rt_seconds Response time",
				"# TYPE rt_seconds histogram",
				'rt_seconds_bucket{le="0.1",provider="a"} 2',
				'rt_seconds_bucket{le="1",provider="a"} 3',
				'rt_seconds_bucket{le="5",provider="a"} 4',
				'rt_seconds_bucket{le="+Inf",provider="a"} 5',
				'rt_seconds_sum{provider="a"} 10.65',
				'rt_seconds_count{provider="a"} 5',
				'rt_seconds_bucket{le="0.1",provider="b"} 0',
				'rt_seconds_bucket{le="1",provider="b"} 0',
				'rt_seconds_bucket{le="5",provider="b"} 1',
				'rt_seconds_bucket{le="+Inf",provider="b"} 1',
				'rt_seconds_sum{provider="b"} 2',
				'rt_seconds_count{provider="b"} 1',
				"",
			].join("\n"),
		);
	});

	it("without labels writes empty buckets from the start", () => {
		const r = new Registry();
		r.histogram({ name: "size_bytes", help: "Sizes", buckets: [10, 100] });
		expect(r.render()).toBe(
			[
				"# HELP size_bytes Sizes",
				"# TYPE size_bytes histogram",
				'size_bytes_bucket{le="10"} 0',
				'size_bytes_bucket{le="100"} 0',
				'size_bytes_bucket{le="+Inf"} 0',
				"size_bytes_sum 0",
				"size_bytes_count 0",
				"",
			].join("\n"),
		);
	});

	it("refuses non-finite observations, an le label and buckets out of order", () => {
		const r = new Registry();
		const h = r.histogram({ name: "h", help: "h", buckets: [1] });
		expect(() => h.observe(Number.NaN)).toThrow(RangeError);
		expect(() => h.observe(Number.POSITIVE_INFINITY)).toThrow(RangeError);
		expect(() => r.histogram({ name: "h2", help: "h", labelNames: ["le"], buckets: [1] })).toThrow(/reserved/);
		expect(() => r.histogram({ name: "h3", help: "h", buckets: [1, 1] })).toThrow(/increasing/);
		expect(() => r.histogram({ name: "h4", help: "h", buckets: [2, 1] })).toThrow(/increasing/);
		expect(() => r.histogram({ name: "h5", help: "h", buckets: [1, Number.POSITIVE_INFINITY] })).toThrow(/finite/);
	});
});

describe("escaping", () => {
	it("escapes backslash, double quote and line feed in label values, and nothing else", () => {
		expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
		expect(escapeLabelValue("tab\tcr\r{}=,é")).toBe("tab\tcr\r{}=,é");
	});

	it("escapes backslash and line feed in HELP, but not double quotes", () => {
		expect(escapeHelp('say "hi"\\now\nthen')).toBe('say "hi"\\\\now\\nthen');
	});

	it("writes escaped label values and help text in the samples", () => {
		const r = new Registry();
		r.counter({ name: "odd_total", help: 'C:\\dir\n"two"', labelNames: ["v"] }).inc({ v: 'x\\y"z\n' });
		expect(r.render()).toBe(
			'# HELP odd_total C:\\\\dir\\n"two"\n# TYPE odd_total counter\nodd_total{v="x\\\\y\\"z\\n"} 1\n',
		);
	});

	it("keeps series apart whose values differ only by what escaping changes", () => {
		const r = new Registry();
		const c = r.counter({ name: "k_total", help: "k", labelNames: ["a", "b"] });
		c.inc({ a: 'x",b="y', b: "z" });
		c.inc({ a: "x", b: 'y",b="z' });
		c.inc({ a: "n\n", b: "" });
		c.inc({ a: "n\\n", b: "" });
		const [family] = parseExposition(r.render()).values();
		expect(family?.samples.map((s) => s.labels)).toEqual([
			{ a: 'x",b="y', b: "z" },
			{ a: "x", b: 'y",b="z' },
			{ a: "n\n", b: "" },
			{ a: "n\\n", b: "" },
		]);
	});

	it("writes special values as Go's ParseFloat reads them", () => {
		expect([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map(formatValue)).toEqual([
			"NaN",
			"+Inf",
			"-Inf",
		]);
		expect([0, -0, 1.5, 1e21, 1e-7, 2 ** 53].map(formatValue)).toEqual([
			"0",
			"0",
			"1.5",
			"1e+21",
			"1e-7",
			"9007199254740992",
		]);
	});
});

describe("Registry", () => {
	it("writes families in creation order, a blank line between them, ending with a line feed", () => {
		const r = new Registry();
		r.gauge({ name: "b", help: "B" });
		r.counter({ name: "a_total", help: "A" });
		expect(r.render()).toBe("# HELP b B\n# TYPE b gauge\nb 0\n\n# HELP a_total A\n# TYPE a_total counter\na_total 0\n");
		expect(r.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
	});

	it("refuses a name twice and names outside the grammar", () => {
		const r = new Registry();
		r.counter({ name: "x_total", help: "x" });
		expect(() => r.gauge({ name: "x_total", help: "x" })).toThrow(/exists/);
		for (const name of ["", "1abc", "a-b", "a b", "é"])
			expect(() => r.counter({ name, help: "x" })).toThrow(/not valid/);
		for (const label of ["", "1a", "a:b", "__reserved"]) {
			expect(() => r.counter({ name: "y_total", help: "y", labelNames: [label] })).toThrow(/not valid/);
		}
		expect(() => r.counter({ name: "z_total", help: "z", labelNames: ["a", "a"] })).toThrow(/repeat/);
	});

	it("writes text that parses line by line under the exposition grammar, whatever the label values", () => {
		const prng = new Prng(20_240_611);
		const alphabet = ["a", "Z", "0", " ", "\\", '"', "\n", "\t", "{", "}", ",", "=", "#", "é", "\u2028"];
		const text = () => Array.from({ length: prng.int(8) }, () => prng.pick(alphabet)).join("");
		const r = new Registry();
		const c = r.counter({ name: "c_total", help: text(), labelNames: ["k", "v"] });
		const g = r.gauge({ name: "g", help: text(), labelNames: ["k"] });
		const h = r.histogram({ name: "h_seconds", help: text(), labelNames: ["k"], buckets: [0.5, 1, 2.5] });
		const expected = new Map<string, number>();
		for (let i = 0; i < 300; i++) {
			const labels = { k: text(), v: text() };
			c.inc(labels, i);
			const id = JSON.stringify(labels);
			expected.set(id, (expected.get(id) ?? 0) + i);
			g.set({ k: labels.k }, prng.next() * 100 - 50);
			h.observe({ k: labels.k }, prng.next() * 4);
		}
		const families = parseExposition(r.render());
		expect([...families.keys()]).toEqual(["c_total", "g", "h_seconds"]);
		expect(families.get("c_total")?.type).toBe("counter");
		expect(families.get("h_seconds")?.type).toBe("histogram");
		const got = new Map(families.get("c_total")?.samples.map((s) => [JSON.stringify(s.labels), s.value]));
		expect(got).toEqual(expected);
	});
});

describe("the grammar check the tests rely on", () => {
	const head = "# HELP h H\n# TYPE h histogram\n";
	it.each([
		["no final line feed", "a 1"],
		["an unescaped quote in a label value", 'a{v="x"y"} 1\n'],
		['an escape other than \\\\, \\" and \\n', 'a{v="\\t"} 1\n'],
		["a repeated label", 'a{v="1",v="2"} 1\n'],
		["a value that is not a float", "a 1,5\n"],
		["TYPE after the family's samples", "a 1\n# TYPE a gauge\n"],
		["a family split by another", "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n"],
		["a histogram without +Inf", `${head}h_bucket{le="1"} 1\nh_sum 1\nh_count 1\n`],
		["buckets that go down", `${head}h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n`],
		["+Inf different from _count", `${head}h_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n`],
	])("rejects %s", (_, text) => {
		expect(() => parseExposition(text)).toThrow();
	});
});

describe("Metrics (the sidecar's families)", () => {
	/** The same calls that produced the fixtures with prom-client 15.1.3, before it was replaced. */
	function scenario() {
		const statuses: SessionStatusName[] = ["completed", "running", "completed", "failed"];
		const m = new Metrics({
			sessionStatuses: () => statuses,
			runsInProgress: () => 1,
			subscribers: () => 2,
			enginePid: () => undefined,
		});
		const fresh = m.registry.render();
		m.eventsStored.inc({ event: "complete" });
		m.eventsStored.inc({ event: "message" });
		m.eventsStored.inc({ event: "complete" });
		m.eventsStored.inc({ event: 'we"ird\\label\nvalue' });
		m.eventsReplayed.inc(5);
		m.eventsReplayed.inc(0);
		m.heartbeats.inc();
		m.heartbeats.inc();
		m.subscribersDropped.inc();
		m.engineRestarts.inc();
		m.llmCall("openai-compatible", 200, 42);
		m.llmCall("openai-compatible", 200, 100);
		m.llmCall("openai-compatible", 200, 300);
		m.llmCall("openai-compatible", 429, 1234.5);
		m.llmCall("anthropic", 502, 61_000);
		m.llmCall("anthropic", 500, 50);
		m.llmCall("anthropic", 200, 0.1);
		m.llmTokens.inc({ provider: "openai-compatible", kind: "input" }, 120);
		m.llmTokens.inc({ provider: "openai-compatible", kind: "output" }, 0);
		m.llmTokens.inc({ provider: "openai-compatible", kind: "output" }, 33);
		m.llmTokens.inc({ provider: "anthropic", kind: "input" }, 0.5);
		statuses.push("pending");
		return { fresh, after: m.registry.render() };
	}

	it("writes byte for byte what prom-client wrote: names, help, types, labels and values", () => {
		const { fresh, after } = scenario();
		expect(fresh).toBe(fixture("fresh.txt"));
		expect(after).toBe(fixture("after-calls.txt"));
	});

	it("parses under the exposition grammar with the types dashboards expect", () => {
		const families = parseExposition(scenario().after);
		const types = Object.fromEntries(
			[...families.values()].map((f) => [f.name.replace("opencode_sidecar_", ""), f.type]),
		);
		expect(types).toEqual({
			sessions: "gauge",
			runs_in_progress: "gauge",
			sse_subscribers: "gauge",
			engine_rss_bytes: "gauge",
			process_dumpable: "gauge",
			events_stored_total: "counter",
			events_replayed_total: "counter",
			heartbeats_total: "counter",
			subscribers_dropped_total: "counter",
			engine_restarts_total: "counter",
			engine_recycles_total: "counter",
			llm_calls_total: "counter",
			llm_errors_total: "counter",
			llm_response_seconds: "histogram",
			llm_tokens_total: "counter",
		});
	});
});
