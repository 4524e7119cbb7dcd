import type { Turn } from "./types";

/** What a request gets when its key's queue has run dry. */
export const EXHAUSTED_TURN: Turn = { kind: "text", text: "Done." };

/** Per-key queues of scripted turns. */
export class ScriptBook {
	readonly #queues = new Map<string, Turn[]>();

	add(key: string, turns: Turn[]): void {
		const queue = this.#queues.get(key) ?? [];
		queue.push(...turns);
		this.#queues.set(key, queue);
	}

	/** The next turn for `key`, or `undefined` when the key was never scripted. */
	next(key: string | undefined): Turn | undefined {
		if (key === undefined) return undefined;
		const queue = this.#queues.get(key);
		if (!queue) return undefined;
		return queue.shift() ?? EXHAUSTED_TURN;
	}
}
