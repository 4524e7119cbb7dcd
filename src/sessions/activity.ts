/**
 * Whether any run is in progress, told to listeners on each change (idle ↔
 * busy): what the sidecar's periodic work keys on, so that nothing wakes up
 * at rest (log syncs, memory sampling, the event-loop histogram).
 */
export class RunActivity {
	private current = false;
	private readonly listeners = new Set<(busy: boolean) => void>();

	/** `count`: the runs in progress now (the session manager's `runningCount`). */
	constructor(private readonly count: () => number) {}

	get busy(): boolean {
		return this.current;
	}

	/** Re-reads the count (after a run started or ended); listeners hear of a change only. */
	update(): void {
		const busy = this.count() > 0;
		if (busy === this.current) return;
		this.current = busy;
		for (const l of this.listeners) l(busy);
	}

	/** Told `true` when the first run starts, `false` when the last one ends. */
	onChange(listener: (busy: boolean) => void): () => void {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	}
}
