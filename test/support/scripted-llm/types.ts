/**
 * Holds a streamed reply: after `afterDeltas` content frames (deltas of text or tool arguments; 0: right after the
 * opening frames, before any content) the stream waits until `until` resolves, to make a point of a run deterministic.
 * `afterDeltas` at or beyond the number of deltas holds the reply before its finish frames.
 */
export interface Hold {
	afterDeltas: number;
	until: Promise<void>;
}

/** One scripted reply. Each request carrying a scripted key consumes the next turn. */
export type Turn =
	/** Streamed text split into `chunks` deltas (default: about one per word), `delayMs` between deltas. */
	| { kind: "text"; text: string; chunks?: number; delayMs?: number; hold?: Hold }
	/** Optional text, then one or more tool calls; finish reason `tool_calls` / `tool_use`. */
	| {
			kind: "tool";
			calls: { name: string; args: Record<string, unknown> }[];
			text?: string;
			delayMs?: number;
			hold?: Hold;
	  }
	/** HTTP error in the provider's own error JSON format (e.g. 401 invalid key, 429 with `retry-after`). */
	| {
			kind: "error";
			status: number;
			message?: string;
			headers?: Record<string, string>;
	  }
	/** 200 and SSE headers, then nothing until the client disconnects. */
	| { kind: "hang" }
	/** Some text, then the connection is reset without a finish event. */
	| { kind: "truncate"; text: string }
	/** Exactly these bytes as a 200 event stream, then the end: e.g. a malformed stream. */
	| { kind: "raw"; body: string };

/** Which of the three provider APIs a request used. */
export type ApiFormat = "chat" | "responses" | "anthropic";

export interface RecordedRequest {
	/** `Date.now()` when the request arrived. */
	at: number;
	format: ApiFormat;
	path: string;
	/** Lower-cased header names. */
	headers: Record<string, string>;
	/** Parsed JSON body (the raw text when it is not JSON). */
	// biome-ignore lint/suspicious/noExplicitAny: tests reach into arbitrary provider request bodies.
	body: any;
	/** From `authorization: Bearer K` or `x-api-key: K`. */
	key: string | undefined;
}

export interface ScriptedLlm {
	/** Base URL including `/v1`, e.g. `http://127.0.0.1:41234/v1`. */
	url: string;
	/** Appends `turns` to the key's queue. When the queue is empty the reply is a text turn "Done.". */
	script(key: string, turns: Turn[]): void;
	/** Every LLM request received, in order. */
	requests: RecordedRequest[];
	/** Resolves with the first existing or future request matching `pred`; rejects after `timeoutMs` (default 5000). */
	waitForRequest(pred: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
	/** Stops the server, ending open streams and rejecting pending waits. */
	close(): Promise<void>;
}
