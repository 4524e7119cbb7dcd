import type { Cancel, Clock } from "../lib/clock";
import { SseParser } from "../sse/parse";
import type { FeedFrame } from "./adapter";
import type { EngineEvent } from "./events";

/** What the feed reports, in order. */
export type FeedItem =
	/** A connection is open and the engine said it is connected (the adapter's `connected` frame). */
	| { readonly kind: "connected" }
	/** Events that arrived together (one network read), in the port's vocabulary. */
	| { readonly kind: "events"; readonly events: readonly EngineEvent[] }
	/** The connection ended (closed, failed, or silent for longer than the limit); it reconnects. */
	| { readonly kind: "lost"; readonly reason: string };

export interface EventFeedOptions {
	/** The engine's feed URL (injectable: a test puts a proxy in between). */
	readonly url: string;
	/** The adapter's reading of one frame's data (adapter.ts). */
	readonly parse: (data: string) => FeedFrame;
	readonly authorization: string;
	/**
	 * No byte for this long ends the connection (ENGINE_EVENT_IDLE_TIMEOUT):
	 * the engine sends a heartbeat every 10-15 s, and a connection dropped
	 * without a FIN would otherwise be waited on forever.
	 */
	readonly idleLimitMs: number;
	/** Pause between a lost connection and the next attempt. */
	readonly retryMs: number;
	readonly clock: Clock;
	/** Told on every read from the engine (events and heartbeats alike): the engine's proof of life. */
	readonly onRead?: () => void;
}

/**
 * The engine's event stream (shared by the generations; the adapter reads the frames) as an async iterator that reconnects until
 * `close()`. Read with fetch and our own parser rather than the SDK's SSE
 * client: cancelling that one leaves a rejected `reader.cancel()` promise
 * unhandled, which ends a Bun process (seen with SDK 1.18.33 on Bun 1.4.5).
 */
export class EventFeed implements AsyncIterable<FeedItem> {
	private closed = false;
	private current: AbortController | undefined;
	private wake: (() => void) | undefined;

	constructor(private readonly options: EventFeedOptions) {}

	/** Ends the feed: the connection is aborted and the iterator finishes. */
	close(): void {
		this.closed = true;
		this.current?.abort();
		this.wake?.();
	}

	async *[Symbol.asyncIterator](): AsyncIterator<FeedItem> {
		while (!this.closed) {
			const reason = yield* this.connection();
			if (this.closed) return;
			yield { kind: "lost", reason };
			await this.pause();
		}
	}

	/** One connection, from request to end; returns why it ended. */
	private async *connection(): AsyncGenerator<FeedItem, string> {
		const { clock, idleLimitMs } = this.options;
		const abort = new AbortController();
		this.current = abort;
		let idle: Cancel | undefined;
		let silent = false;
		const arm = () => {
			idle?.();
			idle = clock.setTimeout(() => {
				silent = true;
				abort.abort();
			}, idleLimitMs);
		};
		arm();
		try {
			const res = await fetch(this.options.url, {
				headers: { authorization: this.options.authorization, accept: "text/event-stream" },
				signal: abort.signal,
			});
			if (!res.ok || !res.body) return `engine /event answered ${res.status}`;
			// An engine of another generation answers its web app's page here (200 text/html): say so, do not wait on it.
			const type = res.headers.get("content-type") ?? "no content type";
			if (!type.startsWith("text/event-stream")) {
				return `engine /event answered ${res.status} ${type.split(";")[0]}, not text/event-stream`;
			}
			const parser = new SseParser();
			const decoder = new TextDecoder();
			for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
				arm();
				this.options.onRead?.();
				const events: EngineEvent[] = [];
				let connected = false;
				for (const frame of parser.push(decoder.decode(chunk, { stream: true }))) {
					const item = this.options.parse(frame.data);
					if (item?.kind === "connected") connected = true;
					else if (item?.kind === "event") events.push(...item.events);
				}
				if (connected) yield { kind: "connected" };
				if (events.length > 0) yield { kind: "events", events };
			}
			return "the engine closed the event stream";
		} catch (error) {
			if (silent) return `no byte from the engine for ${idleLimitMs} ms`;
			return this.closed ? "closed" : `event stream failed: ${String(error)}`;
		} finally {
			idle?.();
			abort.abort();
		}
	}

	private pause(): Promise<void> {
		return new Promise((resolve) => {
			const cancel = this.options.clock.setTimeout(() => {
				this.wake = undefined;
				resolve();
			}, this.options.retryMs);
			this.wake = () => {
				cancel();
				resolve();
			};
		});
	}
}
