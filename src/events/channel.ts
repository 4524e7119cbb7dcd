import { isTerminal, type LoggedEvent, type StoredEvent } from "./catalogue";
import type { EventLog } from "./log";

/** Receives each event once, already encoded as UTF-8, right after it is stored. */
export interface Subscriber {
	deliver(id: number, frame: Uint8Array, terminal: boolean): void;
}

/**
 * One session's event fan-out: stores an event first, encodes it once, then
 * hands the same frame to every live subscriber.
 */
export class EventChannel {
	private readonly subscribers = new Set<Subscriber>();

	constructor(
		readonly log: EventLog,
		private readonly onStored?: (event: StoredEvent) => void,
	) {}

	publish(event: LoggedEvent): StoredEvent {
		// Encoded once: the bytes written to the log are the bytes every subscriber's socket writes.
		const { stored, frame } = this.log.appendFrame(event);
		this.onStored?.(stored);
		const terminal = isTerminal(stored);
		for (const s of this.subscribers) s.deliver(stored.id, frame, terminal);
		return stored;
	}

	subscribe(subscriber: Subscriber): () => void {
		this.subscribers.add(subscriber);
		return () => this.subscribers.delete(subscriber);
	}

	get subscriberCount(): number {
		return this.subscribers.size;
	}

	get lastId(): number {
		return this.log.lastId;
	}

	/** True when the newest event ends a run: nothing more comes unless a new run starts. */
	get atRest(): boolean {
		return this.log.atRest;
	}
}
