/** Something that holds memory it can drop and rebuild when needed again. */
export interface Releasable {
	release(): void;
}

/**
 * The most recently read stored logs, at most `capacity` of them: the one
 * read longest ago is told to release its index when another comes in. Keeps
 * the memory of stored history bounded however many sessions are read.
 */
export class RecentLogs {
	private readonly order = new Set<Releasable>();

	constructor(readonly capacity: number) {}

	touch(log: Releasable): void {
		this.order.delete(log);
		this.order.add(log);
		while (this.order.size > this.capacity) {
			const oldest = this.order.values().next().value as Releasable;
			this.order.delete(oldest);
			oldest.release();
		}
	}

	forget(log: Releasable): void {
		this.order.delete(log);
	}

	get size(): number {
		return this.order.size;
	}
}
