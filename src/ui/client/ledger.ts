/**
 * Which events of one session the page has shown: the id to resume after
 * (`Last-Event-ID`) and the filter that drops an event seen before a
 * reconnect. Ids are per-session integers from 1, strictly increasing (see
 * API_CONTRACT.md), so the highest id shown is all the state needed. Pure.
 */
export class EventLedger {
	#last = 0;

	/** The id to send as `Last-Event-ID` (0: start at the first event). */
	get lastId(): number {
		return this.#last;
	}

	/** True the first time an id is offered, false for one already shown (or an id that is not a positive integer). */
	accept(id: number): boolean {
		if (!Number.isSafeInteger(id) || id <= this.#last) return false;
		this.#last = id;
		return true;
	}
}
