import type { RecordedRequest } from "./types";

interface Waiter {
	pred: (r: RecordedRequest) => boolean;
	resolve: (r: RecordedRequest) => void;
	reject: (e: Error) => void;
	timer: ReturnType<typeof setTimeout>;
}

/** Keeps every request and wakes the waiters a new request satisfies. */
export class RequestRecorder {
	readonly requests: RecordedRequest[] = [];
	readonly #waiters = new Set<Waiter>();

	record(request: RecordedRequest): void {
		this.requests.push(request);
		for (const waiter of this.#waiters) {
			if (!waiter.pred(request)) continue;
			this.#settle(waiter);
			waiter.resolve(request);
		}
	}

	waitFor(pred: (r: RecordedRequest) => boolean, timeoutMs = 5000): Promise<RecordedRequest> {
		const existing = this.requests.find(pred);
		if (existing) return Promise.resolve(existing);
		return new Promise((resolve, reject) => {
			const waiter: Waiter = {
				pred,
				resolve,
				reject,
				timer: setTimeout(() => {
					this.#settle(waiter);
					reject(new Error(`no matching LLM request within ${timeoutMs} ms (${this.requests.length} received)`));
				}, timeoutMs),
			};
			this.#waiters.add(waiter);
		});
	}

	/** Rejects every pending wait. */
	close(): void {
		for (const waiter of this.#waiters) {
			this.#settle(waiter);
			waiter.reject(new Error("scripted LLM closed"));
		}
	}

	#settle(waiter: Waiter): void {
		clearTimeout(waiter.timer);
		this.#waiters.delete(waiter);
	}
}
