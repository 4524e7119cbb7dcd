import type { StoredEvent } from "../events/catalogue";
import type { RunEffect, RunInput } from "../sessions/run-effects";

/**
 * What the rest of the sidecar tells the tracer: plain values, fire and forget. With tracing off
 * (the default) this is {@link NO_TRACING} and no OpenTelemetry module is loaded at all (see
 * load.ts); with it on, otel.ts turns these into spans.
 */
export interface Tracing {
	readonly enabled: boolean;
	/**
	 * A request (`POST /sessions`, a follow-up) asks session `sessionId` for a run: that run's span
	 * is a child of the caller's span when the request carried a W3C `traceparent`.
	 */
	requested(sessionId: string, headers: TraceHeaders): void;
	/** One step of a session's run machine: what came in and the effects it answered (values only). */
	transition(step: RunStep): void;
	/** An event stored for a session (tool calls and their results become tool spans). */
	stored(sessionId: string, event: StoredEvent): void;
	/** A key asked of CREDENTIALS_URL for the session is awaited; call the answer when it arrived (or failed). */
	keyWait(sessionId: string, reason: string): (failure?: string) => void;
	/** An LLM call through the credential gateway; undefined when nothing is traced. */
	llmCall(sessionId: string, call: LlmRequest): LlmCallSpan | undefined;
	/** The trace id of the session's newest run (for its log lines and its status). */
	traceId(sessionId: string): string | undefined;
	/** Counts spans that could not be exported (queue full, export failed): `reason`, how many. */
	onDropped(listener: (reason: DropReason, count: number) => void): void;
	/** Ends what is open and flushes the queue, within `timeoutMs`; never rejects. */
	shutdown(timeoutMs: number): Promise<void>;
}

export interface TraceHeaders {
	readonly traceparent?: string | undefined;
	readonly tracestate?: string | undefined;
}

export interface RunStep {
	readonly sessionId: string;
	/** The run number after the step. */
	readonly run: number;
	readonly input: RunInput;
	readonly effects: readonly RunEffect[];
}

/** What the gateway knows of an LLM call before it is sent (never the key, the endpoint or the body's content). */
export interface LlmRequest {
	readonly provider: string;
	readonly model: string;
	readonly temperature?: number;
	readonly maxTokens?: number;
	/** The request body as sent: read only when content capture is on. */
	readonly body?: unknown;
}

/** An LLM call's span, told what happens to the call as it happens. */
export interface LlmCallSpan {
	/** The provider's response headers arrived. */
	responded(status: number): void;
	/** The first byte of the response body. */
	firstByte(): void;
	/** The body ended (or failed, with `errorType`): usage and finish reasons as read from the stream. */
	end(result: LlmResult): void;
}

export interface LlmResult {
	readonly errorType?: string;
	readonly inputTokens?: number;
	readonly outputTokens?: number;
	readonly finishReasons?: readonly string[];
	readonly responseModel?: string;
}

export type DropReason = "queue_full" | "export_failed";

/** Tracing off: every call is a no-op. */
export const NO_TRACING: Tracing = {
	enabled: false,
	requested() {},
	transition() {},
	stored() {},
	keyWait: () => () => {},
	llmCall: () => undefined,
	traceId: () => undefined,
	onDropped() {},
	shutdown: async () => {},
};
