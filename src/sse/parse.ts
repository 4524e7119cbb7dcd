import { createParser, type EventSourceParser } from "eventsource-parser";

/**
 * Reading an SSE stream (the engine's `/event`, and our own streams in tests
 * and the bench): `eventsource-parser` parses; this adapter only gives its
 * callbacks the shape our callers use, a list of events per chunk fed.
 */
export interface ParsedEvent {
	/** `message` when the event named none. */
	readonly event: string;
	readonly data: string;
	/** The last event ID at this event, as an `EventSource` keeps it (it carries over blocks without an `id:`). */
	readonly id: string | undefined;
}

export class SseParser {
	private readonly parser: EventSourceParser;
	private lastId: string | undefined;
	private completed: ParsedEvent[] = [];

	constructor() {
		this.parser = createParser({
			onEvent: (e) => {
				// eventsource-parser gives each event its own block's id; an EventSource keeps the last one.
				if (e.id !== undefined) this.lastId = e.id;
				this.completed.push({ event: e.event ?? "message", data: e.data, id: this.lastId });
			},
		});
	}

	/** Feeds a chunk (any slicing); returns the events it completed. */
	push(chunk: string): ParsedEvent[] {
		this.parser.feed(chunk);
		const out = this.completed;
		this.completed = [];
		return out;
	}
}
