import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as PromClient from "prom-client";
import type { SessionStatusName, StoredEvent } from "../../src/events/catalogue";
import { families } from "../../src/metrics/families";
import { Metrics } from "../../src/metrics/metrics";
import { NOT_UNDER_BUN } from "../../src/metrics/process";
import { Registry } from "../../src/metrics/prom";
import { RunTimings } from "../../src/metrics/run-timings";
import { Prng } from "../support/prng";
import { parseExposition } from "../support/prometheus-text";

const fixture = (name: string) => readFileSync(join(import.meta.dir, "../fixtures/metrics", name), "utf8");

const sources = (statuses: SessionStatusName[]) => ({
	sessionStatuses: () => statuses,
	runsInProgress: () => 1,
	subscribers: () => 2,
	enginePid: () => undefined,
});

describe("families over prom-client", () => {
	it("writes text that parses line by line under the exposition grammar, whatever the label values", async () => {
		const prng = new Prng(20_240_611);
		const alphabet = ["a", "Z", "0", " ", "\\", '"', "\n", "\t", "{", "}", ",", "=", "#", "é", "\u2028"];
		const text = () => Array.from({ length: prng.int(8) }, () => prng.pick(alphabet)).join("");
		const registry = new Registry();
		const r = families(registry);
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
		const parsed = parseExposition(await registry.metrics());
		expect([...parsed.keys()]).toEqual(["c_total", "g", "h_seconds"]);
		expect(parsed.get("c_total")?.type).toBe("counter");
		expect(parsed.get("h_seconds")?.type).toBe("histogram");
		const got = new Map(parsed.get("c_total")?.samples.map((s) => [JSON.stringify(s.labels), s.value]));
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
	const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
	const session = (id: string, provider: string) => ({ session_id: id, provider, created_at: at(0) });
	const status = (id: number, value: SessionStatusName, s: number): StoredEvent =>
		({ id, event: "status", data: { status: value, timestamp: at(s) } }) as StoredEvent;
	const output = (id: number, s: number, source = "assistant"): StoredEvent =>
		({ id, event: "output", data: { type: "stdout", text: "x", source, timestamp: at(s) } }) as StoredEvent;

	/** The calls that produced the fixtures; the series up to llm_tokens_total are what prom-client wrote before issue 12. */
	async function scenario() {
		const statuses: SessionStatusName[] = ["completed", "running", "completed", "failed"];
		const m = new Metrics();
		m.observe(sources(statuses));
		const fresh = await m.scrape();
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
		m.traceSpansDropped.inc({ reason: "export_failed" }, 12);
		m.traceSpansDropped.inc({ reason: "queue_full" });
		const timings = new RunTimings(m.runDuration, m.firstOutput);
		const a = session("a", "openai-compatible");
		const b = session("b", "anthropic");
		for (const [e, s] of [
			[status(1, "running", 0), a],
			[status(1, "running", 0), b],
			[output(2, 0.4), a],
			[output(3, 7), a],
			[status(4, "completed", 42), a],
			[output(2, 3, "sidecar"), b],
			[status(3, "failed", 1500), b],
			[status(5, "running", 50), a],
			[output(6, 55), a],
			[status(7, "cancelled", 51.5), a],
		] as const)
			timings.stored(e, s);
		statuses.push("pending");
		return { fresh, after: await m.scrape() };
	}

	it("reads each gauge from the source registered for it, and 0 before any is", async () => {
		const m = new Metrics();
		const gauges = async () => {
			const f = parseExposition(await m.scrape());
			const one = (name: string) => f.get(`opencode_sidecar_${name}`)?.samples.map((x) => x.value) ?? [];
			return {
				sessions: one("sessions").reduce((a, b) => a + b, 0),
				runs: one("runs_in_progress"),
				subscribers: one("sse_subscribers"),
				dumpable: one("process_dumpable"),
			};
		};
		expect(await gauges()).toEqual({ sessions: 0, runs: [0], subscribers: [0], dumpable: [0] });
		m.observe({ processDumpable: () => 1 });
		m.observe({ sessionStatuses: () => ["running", "completed"], runsInProgress: () => 1 });
		expect(await gauges()).toEqual({ sessions: 2, runs: [1], subscribers: [0], dumpable: [1] });
		let open = 3;
		m.observe({ subscribers: () => open });
		open = 4;
		expect(await gauges()).toEqual({ sessions: 2, runs: [1], subscribers: [4], dumpable: [1] });
	});

	it("writes byte for byte what the fixtures hold: names, help, types, labels and values", async () => {
		const { fresh, after } = await scenario();
		expect(fresh).toBe(fixture("fresh.txt"));
		expect(after).toBe(fixture("after-calls.txt"));
	});

	it("parses under the exposition grammar with the types dashboards expect", async () => {
		const families = parseExposition((await scenario()).after);
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
			stored_data_unverified_total: "counter",
			engine_restarts_total: "counter",
			engine_recycles_total: "counter",
			llm_calls_total: "counter",
			llm_errors_total: "counter",
			llm_response_seconds: "histogram",
			llm_tokens_total: "counter",
			run_duration_seconds: "histogram",
			first_output_seconds: "histogram",
			trace_spans_dropped_total: "counter",
		});
	});

	it("times runs from running to their final status, and the first output of a new session only", async () => {
		const families = parseExposition((await scenario()).after);
		const samples = (name: string, suffix: string) =>
			(families.get(`opencode_sidecar_${name}`)?.samples ?? [])
				.filter((s) => s.name.endsWith(suffix))
				.map((s) => ({ labels: s.labels, value: s.value }));
		expect(samples("run_duration_seconds", "_sum")).toEqual([
			{ labels: { provider: "openai-compatible", status: "completed" }, value: 42 },
			{ labels: { provider: "anthropic", status: "failed" }, value: 1500 },
			{ labels: { provider: "openai-compatible", status: "cancelled" }, value: 1.5 },
		]);
		// a: 0.4 s (its later outputs and runs do not count); b: none (the sidecar's own notice is not the agent's).
		expect(samples("first_output_seconds", "_sum")).toEqual([
			{ labels: { provider: "openai-compatible" }, value: 0.4 },
		]);
		expect(samples("first_output_seconds", "_count")).toEqual([
			{ labels: { provider: "openai-compatible" }, value: 1 },
		]);
	});
});

describe("the standard process series", () => {
	const scrape = () => new Metrics({ processSeries: true }).scrape();

	it("are scraped after the sidecar's own, with values read from this process", async () => {
		const text = await scrape();
		const families = parseExposition(text);
		const value = (name: string) => families.get(name)?.samples[0]?.value ?? Number.NaN;
		const ours = text.indexOf("# HELP opencode_sidecar_first_output_seconds");
		expect(ours).toBeGreaterThan(0);
		expect(ours).toBeLessThan(text.indexOf("# HELP process_cpu_seconds_total"));
		const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]) * 1024;
		expect(value("process_resident_memory_bytes")).toBeGreaterThan(rss / 2);
		expect(value("process_resident_memory_bytes")).toBeLessThan(rss * 2);
		expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
		expect(value("process_open_fds")).toBeGreaterThan(2);
		expect(value("process_max_fds")).toBeGreaterThan(value("process_open_fds"));
		const started = Date.now() / 1000 - process.uptime();
		expect(Math.abs(value("process_start_time_seconds") - started)).toBeLessThan(5);
		expect(value("nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
		expect(families.get("nodejs_eventloop_lag_seconds")?.type).toBe("gauge");
	});

	it("are prom-client's default series but those that read nothing under Bun", async () => {
		const all = new PromClient.Registry();
		PromClient.collectDefaultMetrics({ register: all });
		const defaults = [...parseExposition(await all.metrics()).keys()];
		const ours = [...parseExposition(await scrape()).keys()].filter((n) => !n.startsWith("opencode_sidecar_"));
		expect(ours).toEqual(defaults.filter((n) => !(NOT_UNDER_BUN as readonly string[]).includes(n)));
	});

	it("leave out what reads nothing under Bun", async () => {
		const names = [...parseExposition(await scrape()).keys()];
		for (const name of NOT_UNDER_BUN) expect(names).not.toContain(name);
	});
});
