import type { EventChannel } from "../events/channel";
import type { Clock } from "../lib/clock";
import { type CloseReason, openEventStream } from "./event-stream";

export interface StreamHubOptions {
	readonly heartbeatMs: number;
	readonly maxQueuedBytes: number;
	readonly retryMs: number;
	readonly clock: Clock;
	readonly onReplay?: (events: number) => void;
	readonly onHeartbeat?: () => void;
	readonly onDropped?: () => void;
	/** A replay of `sessionId` met a frame that failed verification (see event-stream.ts). */
	readonly onUnverified?: (sessionId: string, eventId: number) => void;
}

/** Every open SSE stream, so shutdown can end them and metrics can count them. */
export class StreamHub {
	private readonly open = new Set<(reason: CloseReason) => void>();
	readonly closed: Record<CloseReason, number> = {
		terminal: 0,
		client_gone: 0,
		too_slow: 0,
		server_closing: 0,
		unverified: 0,
		error: 0,
	};

	constructor(private readonly options: StreamHubOptions) {}

	get size(): number {
		return this.open.size;
	}

	stream(channel: EventChannel, afterId: number, sessionId = ""): ReadableStream<Uint8Array> {
		const { onUnverified, ...options } = this.options;
		const { stream, close } = openEventStream(channel, {
			...options,
			afterId,
			...(onUnverified ? { onUnverified: (eventId: number) => onUnverified(sessionId, eventId) } : {}),
			onClose: (reason) => {
				this.open.delete(close);
				this.closed[reason]++;
				if (reason === "too_slow") this.options.onDropped?.();
			},
		});
		this.open.add(close);
		return stream;
	}

	/** Ends every stream cleanly; clients resume with Last-Event-ID elsewhere. */
	closeAll(): void {
		for (const close of [...this.open]) close("server_closing");
	}
}
