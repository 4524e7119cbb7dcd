import { readFileSync } from "node:fs";
import { SESSION_STATUSES, type SessionStatusName } from "../events/catalogue";
import { families } from "./families";
import { processRegistry } from "./process";
import { type Counter, type Histogram, Registry } from "./prom";

/**
 * What the metrics read from the rest of the sidecar when scraped, registered
 * with `Metrics.observe` by each part once it exists. A gauge whose source is
 * not registered yet reads 0 (`process_dumpable`: is not reported).
 */
export interface MetricSources {
	sessionStatuses(): Iterable<SessionStatusName>;
	runsInProgress(): number;
	subscribers(): number;
	enginePid(): number | undefined;
	/** 1 when the sidecar could not make itself non-dumpable, 0 when it did; undefined: not reported. */
	processDumpable(): number | undefined;
}

export interface MetricsOptions {
	/** Also scrape the standard process series (see process.ts); the sidecar does, unit tests need not. */
	readonly processSeries?: boolean;
}

/**
 * Prometheus metrics (`GET /metrics`), kept by prom-client. Labels carry no
 * session content and no secrets: only event names, statuses, provider names
 * and outcome classes.
 */
export class Metrics {
	/** The sidecar's own series. */
	readonly registry = new Registry();
	/** What a scrape answers: ours, then the process series when asked for. */
	private scraped: Registry;
	readonly eventsStored: Counter<"event">;
	readonly eventsReplayed: Counter;
	readonly heartbeats: Counter;
	readonly subscribersDropped: Counter;
	readonly storedDataUnverified: Counter<"kind">;
	readonly engineRestarts: Counter;
	readonly engineRecycles: Counter<"reason">;
	readonly llmCalls: Counter<"provider" | "outcome">;
	readonly llmErrors: Counter<"provider">;
	readonly llmLatency: Histogram<"provider">;
	readonly llmTokens: Counter<"provider" | "kind">;
	readonly runDuration: Histogram<"provider" | "status">;
	readonly firstOutput: Histogram<"provider">;
	readonly traceSpansDropped: Counter<"reason">;
	private sources: Partial<MetricSources> = {};

	constructor(options: MetricsOptions = {}) {
		const r = families(this.registry);
		const sources = {
			sessionStatuses: () => this.sources.sessionStatuses?.() ?? [],
			runsInProgress: () => this.sources.runsInProgress?.() ?? 0,
			subscribers: () => this.sources.subscribers?.() ?? 0,
			enginePid: () => this.sources.enginePid?.(),
			processDumpable: () => this.sources.processDumpable?.(),
		} satisfies MetricSources;

		const p = "opencode_sidecar_";
		r.gauge({
			name: `${p}sessions`,
			help: "Sessions known to the sidecar, by status",
			labelNames: ["status"],
			collect: (g) => {
				const counts = new Map<string, number>(SESSION_STATUSES.map((s) => [s, 0]));
				for (const s of sources.sessionStatuses()) counts.set(s, (counts.get(s) ?? 0) + 1);
				for (const [status, n] of counts) g.set({ status }, n);
			},
		});
		r.gauge({
			name: `${p}runs_in_progress`,
			help: "Runs currently in progress",
			collect: (g) => g.set(sources.runsInProgress()),
		});
		r.gauge({
			name: `${p}sse_subscribers`,
			help: "Open SSE streams",
			collect: (g) => g.set(sources.subscribers()),
		});
		r.gauge({
			name: `${p}engine_rss_bytes`,
			help: "Resident memory of the OpenCode engine process",
			collect: (g) => g.set(rssBytes(sources.enginePid()) ?? 0),
		});
		r.gauge({
			name: `${p}process_dumpable`,
			help: "1 when the sidecar process could not be made non-dumpable (its memory is readable by the agent's tools), else 0",
			collect: (g) => {
				const v = sources.processDumpable();
				if (v !== undefined) g.set(v);
			},
		});
		this.eventsStored = r.counter({
			name: `${p}events_stored_total`,
			help: "Events numbered and written to session logs, by event name",
			labelNames: ["event"],
		});
		this.eventsReplayed = r.counter({
			name: `${p}events_replayed_total`,
			help: "Events sent to subscribers from the log (replay after Last-Event-ID)",
		});
		this.heartbeats = r.counter({
			name: `${p}heartbeats_total`,
			help: "Heartbeat frames sent",
		});
		this.subscribersDropped = r.counter({
			name: `${p}subscribers_dropped_total`,
			help: "Subscribers disconnected for falling behind (STREAM_BUFFER_BYTES)",
		});
		this.storedDataUnverified = r.counter({
			name: `${p}stored_data_unverified_total`,
			help: "Stored data that failed verification and was not used (record: a session's record; log: a replay stopped at an event; engine_home: the engine's configuration home changed), by kind",
			labelNames: ["kind"],
		});
		this.engineRestarts = r.counter({
			name: `${p}engine_restarts_total`,
			help: "Times the engine process was lost and restarted",
		});
		this.engineRecycles = r.counter({
			name: `${p}engine_recycles_total`,
			help: "Engine processes replaced by the sidecar, by reason (unresponsive: failed health checks; memory: RSS limit; start_timeout)",
			labelNames: ["reason"],
		});
		this.llmCalls = r.counter({
			name: `${p}llm_calls_total`,
			help: "LLM calls through the credential gateway, by provider and outcome (2xx, 4xx, 5xx, unreachable)",
			labelNames: ["provider", "outcome"],
		});
		this.llmErrors = r.counter({
			name: `${p}llm_errors_total`,
			help: "LLM calls that failed (non-2xx or unreachable), by provider",
			labelNames: ["provider"],
		});
		this.llmLatency = r.histogram({
			name: `${p}llm_response_seconds`,
			help: "Time from forwarding an LLM call to the provider's response headers",
			labelNames: ["provider"],
			buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
		});
		this.llmTokens = r.counter({
			name: `${p}llm_tokens_total`,
			help: "Tokens reported by providers in responses through the gateway, by provider and kind (input, output)",
			labelNames: ["provider", "kind"],
		});
		this.runDuration = r.histogram({
			name: `${p}run_duration_seconds`,
			help: "Time from a run's start to its end, by provider and final status",
			labelNames: ["provider", "status"],
			buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600],
		});
		this.firstOutput = r.histogram({
			name: `${p}first_output_seconds`,
			help: "Time from POST /sessions to the session's first output event from the agent, by provider",
			labelNames: ["provider"],
			buckets: [0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
		});
		this.traceSpansDropped = r.counter({
			name: `${p}trace_spans_dropped_total`,
			help: "Trace spans not exported (tracing on), by reason (queue_full: the exporter's queue was full; export_failed: the collector did not take them)",
			labelNames: ["reason"],
		});
		// Last: a merged registry holds the families registered by then.
		this.scraped = options.processSeries ? Registry.merge([this.registry, processRegistry()]) : this.registry;
	}

	/**
	 * Registers where gauges read their values from, as the parts that hold them
	 * are built: the metrics exist first (everything else counts into them) and
	 * read the others only when scraped. A later registration of a source replaces
	 * the earlier one.
	 */
	observe(sources: Partial<MetricSources>): void {
		this.sources = { ...this.sources, ...sources };
	}

	/** Adds the families of another registry to what a scrape answers (after those already there). */
	include(registry: Registry): void {
		this.scraped = Registry.merge([this.scraped, registry]);
	}

	/** The scrape answer in the Prometheus text format 0.0.4. */
	scrape(): Promise<string> {
		return this.scraped.metrics();
	}

	get contentType(): string {
		return this.scraped.contentType;
	}

	/** Counts one LLM call's outcome. */
	llmCall(provider: string, status: number, ms: number): void {
		const outcome = status === 502 ? "unreachable" : `${Math.floor(status / 100)}xx`;
		this.llmCalls.inc({ provider, outcome });
		if (status >= 400) this.llmErrors.inc({ provider });
		this.llmLatency.observe({ provider }, ms / 1000);
	}
}

/** VmRSS of a process in bytes, from /proc; undefined when unknown. (One file read: pidusage would add CPU sampling we do not use.) */
export function rssBytes(pid: number | undefined): number | undefined {
	if (pid === undefined) return undefined;
	try {
		const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
		return m ? Number(m[1]) * 1024 : undefined;
	} catch {
		return undefined;
	}
}
