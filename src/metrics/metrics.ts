import { readFileSync } from "node:fs";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { SESSION_STATUSES, type SessionStatusName } from "../events/catalogue";

/** What the metrics read from the rest of the sidecar when scraped. */
export interface MetricSources {
	sessionStatuses(): Iterable<SessionStatusName>;
	runsInProgress(): number;
	subscribers(): number;
	enginePid(): number | undefined;
}

/**
 * Prometheus metrics (`GET /metrics`). Labels carry no session content and no
 * secrets: only event names, statuses, provider names and outcome classes.
 */
export class Metrics {
	readonly registry = new Registry();
	readonly eventsStored: Counter<"event">;
	readonly eventsReplayed: Counter;
	readonly heartbeats: Counter;
	readonly subscribersDropped: Counter;
	readonly engineRestarts: Counter;
	readonly llmCalls: Counter<"provider" | "outcome">;
	readonly llmErrors: Counter<"provider">;
	readonly llmLatency: Histogram<"provider">;
	readonly llmTokens: Counter<"provider" | "kind">;

	constructor(sources: MetricSources) {
		const registers = [this.registry];
		const p = "opencode_sidecar_";
		new Gauge({
			name: `${p}sessions`,
			help: "Sessions known to the sidecar, by status",
			labelNames: ["status"],
			registers,
			collect() {
				const counts = new Map<string, number>(SESSION_STATUSES.map((s) => [s, 0]));
				for (const s of sources.sessionStatuses()) counts.set(s, (counts.get(s) ?? 0) + 1);
				for (const [status, n] of counts) this.set({ status }, n);
			},
		});
		new Gauge({
			name: `${p}runs_in_progress`,
			help: "Runs currently in progress",
			registers,
			collect() {
				this.set(sources.runsInProgress());
			},
		});
		new Gauge({
			name: `${p}sse_subscribers`,
			help: "Open SSE streams",
			registers,
			collect() {
				this.set(sources.subscribers());
			},
		});
		new Gauge({
			name: `${p}engine_rss_bytes`,
			help: "Resident memory of the OpenCode engine process",
			registers,
			collect() {
				this.set(rssBytes(sources.enginePid()) ?? 0);
			},
		});
		this.eventsStored = new Counter({
			name: `${p}events_stored_total`,
			help: "Events numbered and written to session logs, by event name",
			labelNames: ["event"],
			registers,
		});
		this.eventsReplayed = new Counter({
			name: `${p}events_replayed_total`,
			help: "Events sent to subscribers from the log (replay after Last-Event-ID)",
			registers,
		});
		this.heartbeats = new Counter({
			name: `${p}heartbeats_total`,
			help: "Heartbeat frames sent",
			registers,
		});
		this.subscribersDropped = new Counter({
			name: `${p}subscribers_dropped_total`,
			help: "Subscribers disconnected for falling behind (STREAM_BUFFER_BYTES)",
			registers,
		});
		this.engineRestarts = new Counter({
			name: `${p}engine_restarts_total`,
			help: "Times the engine process was lost and restarted",
			registers,
		});
		this.llmCalls = new Counter({
			name: `${p}llm_calls_total`,
			help: "LLM calls through the credential gateway, by provider and outcome (2xx, 4xx, 5xx, unreachable)",
			labelNames: ["provider", "outcome"],
			registers,
		});
		this.llmErrors = new Counter({
			name: `${p}llm_errors_total`,
			help: "LLM calls that failed (non-2xx or unreachable), by provider",
			labelNames: ["provider"],
			registers,
		});
		this.llmLatency = new Histogram({
			name: `${p}llm_response_seconds`,
			help: "Time from forwarding an LLM call to the provider's response headers",
			labelNames: ["provider"],
			buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
			registers,
		});
		this.llmTokens = new Counter({
			name: `${p}llm_tokens_total`,
			help: "Tokens reported by providers in responses through the gateway, by provider and kind (input, output)",
			labelNames: ["provider", "kind"],
			registers,
		});
	}

	/** Counts one LLM call's outcome. */
	llmCall(provider: string, status: number, ms: number): void {
		const outcome = status === 502 ? "unreachable" : `${Math.floor(status / 100)}xx`;
		this.llmCalls.inc({ provider, outcome });
		if (status >= 400) this.llmErrors.inc({ provider });
		this.llmLatency.observe({ provider }, ms / 1000);
	}
}

/** VmRSS of a process in bytes, from /proc; undefined when unknown. */
export function rssBytes(pid: number | undefined): number | undefined {
	if (pid === undefined) return undefined;
	try {
		const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
		return m ? Number(m[1]) * 1024 : undefined;
	} catch {
		return undefined;
	}
}
