import { createParser } from "eventsource-parser";
import { authHeaders, check, NeedsToken } from "./api";
import { EventLedger } from "./ledger";

/** One stored event of the session's stream. */
export interface StreamEvent {
	readonly id: number;
	readonly type: string;
	readonly data: Record<string, unknown>;
}

export type StreamState = "connecting" | "live" | "reconnecting" | "idle" | "unauthorized" | "failed";

export interface StreamCallbacks {
	onEvents(events: StreamEvent[]): void;
	onState(state: StreamState, detail?: string): void;
}

const isTerminal = (e: StreamEvent) => e.type === "complete" || (e.type === "error" && e.data.fatal === true);

/**
 * Follows `/sessions/{id}/stream` until the run's terminal event, showing each
 * event once across any number of reconnects.
 *
 * Read with `fetch` and a streaming SSE parser, not `EventSource`: EventSource
 * cannot send the `Authorization: Bearer` header that OPENCODE_SHARED_SECRET
 * requires, and a token in the URL would land in access logs and history. The
 * reconnect EventSource would do is done here the same way: wait the server's
 * `retry:`, resume with `Last-Event-ID`, and drop any id already shown.
 */
export class SessionStream {
	readonly ledger = new EventLedger();
	#abort: AbortController | undefined;
	#retryMs = 2000;

	constructor(
		private readonly sessionId: string,
		private readonly callbacks: StreamCallbacks,
	) {}

	get running(): boolean {
		return this.#abort !== undefined;
	}

	/** Starts following (no-op while already following). Resolves when it stops. */
	async follow(): Promise<void> {
		if (this.#abort) return;
		const abort = new AbortController();
		this.#abort = abort;
		try {
			for (let attempt = 0; !abort.signal.aborted; attempt++) {
				this.callbacks.onState(attempt === 0 ? "connecting" : "reconnecting");
				const outcome = await this.#connect(abort.signal).catch((error: unknown) => {
					if (error instanceof NeedsToken) return "unauthorized" as const;
					return abort.signal.aborted ? ("stopped" as const) : ("dropped" as const);
				});
				if (outcome === "ended" || outcome === "stopped") break;
				if (outcome === "unauthorized") {
					this.callbacks.onState("unauthorized");
					break;
				}
				if (outcome === "failed") break;
				this.callbacks.onState("reconnecting");
				await new Promise((r) => setTimeout(r, this.#retryMs));
			}
		} finally {
			if (this.#abort === abort) this.#abort = undefined;
		}
	}

	stop(): void {
		this.#abort?.abort();
		this.#abort = undefined;
	}

	async #connect(signal: AbortSignal): Promise<"ended" | "dropped" | "failed"> {
		const headers = authHeaders({ accept: "text/event-stream" });
		if (this.ledger.lastId > 0) headers.set("last-event-id", String(this.ledger.lastId));
		const res = await fetch(`/sessions/${encodeURIComponent(this.sessionId)}/stream`, {
			headers,
			signal,
			cache: "no-store",
		});
		// 204: the run has ended and everything was shown; a follow-up run is picked up by the caller.
		if (res.status === 204) {
			this.callbacks.onState("idle");
			return "ended";
		}
		try {
			await check(res);
		} catch (error) {
			if (error instanceof NeedsToken) throw error;
			this.callbacks.onState("failed", error instanceof Error ? error.message : String(error));
			return "failed";
		}
		if (!res.body) return "dropped";
		this.callbacks.onState("live");
		let ended = false;
		let batch: StreamEvent[] = [];
		const parser = createParser({
			onEvent: (message) => {
				if (!message.event || message.event === "heartbeat" || message.id === undefined) return;
				const id = Number(message.id);
				if (!this.ledger.accept(id)) return;
				let data: Record<string, unknown>;
				try {
					data = JSON.parse(message.data) as Record<string, unknown>;
				} catch {
					data = { text: message.data };
				}
				const event = { id, type: message.event, data };
				batch.push(event);
				if (isTerminal(event)) ended = true;
			},
			onRetry: (ms) => {
				this.#retryMs = ms;
			},
		});
		const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
		try {
			for (;;) {
				const { done, value } = await reader.read();
				if (done) break;
				parser.feed(value);
				// One DOM update per network read, not per event: a 10,000-event replay arrives in a few reads.
				if (batch.length > 0) {
					const events = batch;
					batch = [];
					this.callbacks.onEvents(events);
				}
			}
		} finally {
			reader.releaseLock();
		}
		if (ended) {
			this.callbacks.onState("idle");
			return "ended";
		}
		return "dropped";
	}
}
