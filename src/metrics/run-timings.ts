import { isTerminal, type StoredEvent } from "../events/catalogue";
import type { Histogram } from "./prom";

/** What the timings need to know about the session an event belongs to. */
export interface TimedSession {
	readonly session_id: string;
	readonly provider: string;
	/** When POST /sessions created it (ISO, on the injected clock). */
	readonly created_at: string;
}

/**
 * Feeds the SLO histograms from the stored event stream: a run lasts from its
 * `status: running` event to its final `status` event (their timestamps, so
 * on the injected clock); the first output is timed from the session's
 * creation to its first `output` event from the agent (not a notice of the
 * sidecar's own), for sessions created by this process only.
 */
export class RunTimings {
	private readonly runStarted = new Map<string, number>();
	/** Sessions created here that have produced no output yet. */
	private readonly awaitingOutput = new Set<string>();

	constructor(
		private readonly runDuration: Histogram<"provider" | "status">,
		private readonly firstOutput: Histogram<"provider">,
	) {}

	stored(event: StoredEvent, session: TimedSession): void {
		const id = session.session_id;
		// The first event of a new log is the one POST /sessions stores.
		if (event.id === 1) this.awaitingOutput.add(id);
		if (event.event === "output" && event.data.source !== "sidecar" && this.awaitingOutput.delete(id)) {
			const seconds = (Date.parse(event.data.timestamp) - Date.parse(session.created_at)) / 1000;
			if (Number.isFinite(seconds)) this.firstOutput.observe({ provider: session.provider }, Math.max(0, seconds));
		}
		if (event.event === "status") {
			const at = Date.parse(event.data.timestamp);
			if (event.data.status === "running") {
				if (!this.runStarted.has(id)) this.runStarted.set(id, at);
			} else if (event.data.status !== "pending") {
				const started = this.runStarted.get(id);
				this.runStarted.delete(id);
				if (started !== undefined && Number.isFinite(at - started)) {
					this.runDuration.observe(
						{ provider: session.provider, status: event.data.status },
						Math.max(0, at - started) / 1000,
					);
				}
			}
		}
		if (isTerminal(event)) this.awaitingOutput.delete(id);
	}
}
