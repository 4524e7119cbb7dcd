import type { EngineEvent } from "./events";

/**
 * While the sessions reconcile with the engine after the feed came back,
 * the live events of the new connection are held, then handed on in order
 * once every reconciliation has finished: nothing the engine says meanwhile
 * is lost, reordered, or handled before the state it follows.
 */
export class ResyncGate {
	private held: EngineEvent[][] | undefined;
	private done: Promise<void> = Promise.resolve();

	/** Settles when the latest resync has handed on what it held. */
	get settled(): Promise<void> {
		return this.done;
	}

	/** Holds live events until every one of `tasks` has settled, then hands them to `release`. */
	open(tasks: readonly (() => Promise<void>)[], release: (batch: readonly EngineEvent[]) => void): void {
		if (this.held) return;
		const held: EngineEvent[][] = [];
		this.held = held;
		this.done = Promise.all(tasks.map((t) => t())).then(() => {
			if (this.held === held) this.held = undefined;
			for (const batch of held) release(batch);
		});
	}

	/** Takes a live batch while a resync runs (true); false when it should be handed on now. */
	hold(batch: readonly EngineEvent[]): boolean {
		if (!this.held) return false;
		this.held.push([...batch]);
		return true;
	}

	/** The engine process went away: what was held belongs to it. */
	drop(): void {
		this.held?.splice(0);
		this.held = undefined;
	}
}
