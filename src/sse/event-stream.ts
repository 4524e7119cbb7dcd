import type { EventChannel, Subscriber } from "../events/channel";
import type { Cancel, Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import { encodeFrame } from "./encode";

export interface EventStreamOptions {
	/** Replay everything after this id (0: from the start). */
	readonly afterId: number;
	readonly heartbeatMs: number;
	/**
	 * Bytes queued for a subscriber. Live events that do not fit are not
	 * queued: the subscriber falls back to reading the log once it has room, so
	 * a burst never costs memory and a reader that keeps up is never dropped.
	 */
	readonly maxQueuedBytes: number;
	/** A subscriber that is behind and reads nothing for this long is dropped (default: 2 heartbeats, at least 5 s). */
	readonly stallMs?: number;
	/** Reconnection hint sent first, in ms. */
	readonly retryMs: number;
	readonly clock: Clock;
	/**
	 * Replay read size per step (default 1 MiB, within `maxQueuedBytes`); the
	 * first read is at most 64 KiB, so the first event goes out quickly.
	 */
	readonly replayChunkBytes?: number;
	/** Told once when the stream ends, with why. */
	readonly onClose?: (reason: CloseReason) => void;
	/** Told how many events each replay read sent from the log. */
	readonly onReplay?: (events: number) => void;
	/** Told for each heartbeat written. */
	readonly onHeartbeat?: () => void;
	/** Told when a replay met a frame that failed verification (see EventLog.readFrames), with its id. */
	readonly onUnverified?: (eventId: number) => void;
}

export type CloseReason = "terminal" | "client_gone" | "too_slow" | "server_closing" | "unverified" | "error";

/**
 * What a replay sends instead of a frame that failed verification, then closes: a fatal `error`
 * event without an id (it is not part of the log; a client resuming gets it again at the same place).
 */
export function unverifiedFrame(eventId: number, nowMs: number): Uint8Array {
	const data = {
		error: `event ${eventId} of this session's stored history failed verification (changed on disk); the history is not sent past event ${eventId - 1}`,
		fatal: true,
		code: "history_unverified",
		timestamp: isoTime(nowMs),
	};
	return ENCODER.encode(encodeFrame({ event: "error", data }));
}

const ENCODER = new TextEncoder();
/** Large reads send a long log at the socket's speed; a small first one keeps the time to the first event short. */
const REPLAY_CHUNK = 1024 * 1024;
const FIRST_REPLAY_CHUNK = 64 * 1024;
const HEARTBEAT = ENCODER.encode(encodeFrame({ event: "heartbeat", data: {} }));

/**
 * An SSE body for one subscriber: replays the log after `afterId` from disk
 * (respecting backpressure), then switches to live delivery with no gap and no
 * duplicate, and closes after the terminal event. A subscriber that lets more
 * than `maxQueuedBytes` pile up is dropped; it resumes with Last-Event-ID.
 *
 * Returns the stream and a `close` to end it from the server side.
 * Hand-written, as encode.ts: a library stream (better-sse) cannot replay the log's bytes under its own backpressure.
 */
export function openEventStream(
	channel: EventChannel,
	options: EventStreamOptions,
): { stream: ReadableStream<Uint8Array>; close: (reason: CloseReason) => void } {
	let controller!: ReadableStreamDefaultController<Uint8Array>;
	let cursor = options.afterId;
	let live = false;
	let closed = false;
	let reading = false;
	let replayed = false;
	let unsubscribe: (() => void) | undefined;
	let stopHeartbeat: Cancel | undefined;

	const highWaterMark = Math.min(64 * 1024, options.maxQueuedBytes);
	// Queued bytes, as the stream counts them.
	const queued = () => highWaterMark - (controller.desiredSize ?? 0);

	const finish = (reason: CloseReason, how: "close" | "error" | "none") => {
		if (closed) return;
		closed = true;
		unsubscribe?.();
		stopHeartbeat?.();
		cancelStall?.();
		try {
			if (how === "close") controller.close();
			else if (how === "error") controller.error(new Error(`stream ended: ${reason}`));
		} catch {
			// Already closed by the consumer.
		}
		options.onClose?.(reason);
	};

	const write = (bytes: Uint8Array): boolean => {
		if (closed) return false;
		try {
			controller.enqueue(bytes);
		} catch {
			finish("client_gone", "none");
			return false;
		}
		enqueued += bytes.byteLength;
		return true;
	};
	// Bytes the client has actually taken (the stream's own pulls are no sign of a reader).
	let enqueued = 0;
	const consumed = () => enqueued - queued();

	const fits = (bytes: number) => queued() + bytes <= options.maxQueuedBytes;

	// Behind: stop queueing live events (they are on disk) and watch for a reader that has stopped.
	const stallMs = options.stallMs ?? Math.max(5000, 2 * options.heartbeatMs);
	let cancelStall: Cancel | undefined;
	const fallBehind = () => {
		live = false;
		if (cancelStall) return;
		const progress = consumed();
		cancelStall = options.clock.setTimeout(() => {
			cancelStall = undefined;
			if (closed) return;
			if (consumed() <= progress) finish("too_slow", "error");
			else if (!live || !fits(0)) fallBehind();
		}, stallMs);
	};

	const subscriber: Subscriber = {
		deliver(id, frame, terminal) {
			if (!live || id <= cursor) return;
			if (id !== cursor + 1) {
				// Cannot happen while delivery is synchronous; fall back to the log rather than skip.
				live = false;
				void catchUp();
				return;
			}
			if (!fits(frame.byteLength)) {
				fallBehind();
				return;
			}
			cursor = id;
			if (write(frame) && terminal) finish("terminal", "close");
		},
	};

	// Reads from disk until caught up with the log, then goes live in the same
	// tick as the last check, so no append can fall between the two.
	const catchUp = async (): Promise<void> => {
		if (reading || closed || live) return;
		reading = true;
		try {
			while (!closed && cursor < channel.lastId) {
				// Never read more than the queue has room for, so replay cannot trip the slow-subscriber limit.
				const room = Math.max(1, options.maxQueuedBytes - queued());
				const { bytes, lastId, unverified } = await channel.log.readFrames(
					cursor,
					Math.min(options.replayChunkBytes ?? REPLAY_CHUNK, replayed ? room : FIRST_REPLAY_CHUNK, room),
				);
				replayed = true;
				if (closed) return;
				if (unverified === undefined && lastId <= cursor) break;
				if (lastId > cursor) {
					options.onReplay?.(lastId - cursor);
					cursor = lastId;
					if (!write(bytes)) return;
				}
				if (unverified !== undefined) {
					options.onUnverified?.(unverified);
					write(unverifiedFrame(unverified, options.clock.now()));
					finish("unverified", "close");
					return;
				}
				if ((controller.desiredSize ?? 0) <= 0) return; // resume in pull()
			}
			if (closed || cursor < channel.lastId) return;
			if (channel.atRest) {
				finish("terminal", "close");
				return;
			}
			live = true;
		} catch {
			finish("error", "error");
		} finally {
			reading = false;
		}
	};

	const stream = new ReadableStream<Uint8Array>(
		{
			start(c) {
				controller = c;
				c.enqueue(ENCODER.encode(encodeFrame({ comment: "stream open", retry: options.retryMs })));
				unsubscribe = channel.subscribe(subscriber);
				stopHeartbeat = options.clock.setInterval(() => {
					if (!fits(HEARTBEAT.byteLength)) fallBehind();
					else if (write(HEARTBEAT)) options.onHeartbeat?.();
				}, options.heartbeatMs);
			},
			pull() {
				return live ? undefined : catchUp();
			},
			cancel() {
				finish("client_gone", "none");
			},
		},
		{ highWaterMark, size: (chunk) => chunk?.byteLength ?? 0 },
	);
	return { stream, close: (reason) => finish(reason, "close") };
}
