import type { Clock } from "./clock";

/** Raised when a call outlives its deadline; `ms` is the limit it had. */
export class TimedOut extends Error {
	constructor(readonly ms: number) {
		super(`timed out after ${ms} ms`);
		this.name = "TimedOut";
	}
}

/**
 * An `AbortSignal` that aborts with `TimedOut` when `ms` have passed on
 * `clock` (the injected one, so tests move time by hand; `AbortSignal.timeout`
 * only knows the real clock). `cancel` stops the timer once the work is done.
 */
export function deadline(clock: Clock, ms: number): { readonly signal: AbortSignal; cancel(): void } {
	const controller = new AbortController();
	const cancel = clock.setTimeout(() => controller.abort(new TimedOut(ms)), ms);
	return { signal: controller.signal, cancel };
}

/**
 * Settles like `work`, or rejects with `TimedOut` after `ms` on `clock`,
 * whichever comes first. `work` receives the deadline's signal so a callee
 * that accepts one (fetch, the SDK's calls) stops its own request too.
 */
export function withTimeout<T>(
	clock: Clock,
	ms: number,
	work: Promise<T> | ((signal: AbortSignal) => Promise<T>),
): Promise<T> {
	const { signal, cancel } = deadline(clock, ms);
	const promise = typeof work === "function" ? work(signal) : work;
	return new Promise<T>((resolve, reject) => {
		const onAbort = () => reject(signal.reason);
		signal.addEventListener("abort", onAbort, { once: true });
		promise.then(
			(value) => {
				cancel();
				signal.removeEventListener("abort", onAbort);
				resolve(value);
			},
			(error: unknown) => {
				cancel();
				signal.removeEventListener("abort", onAbort);
				reject(error);
			},
		);
	});
}

/** Resolves when `ms` have passed on `clock`. */
export function pause(clock: Clock, ms: number): Promise<void> {
	return new Promise((resolve) => {
		clock.setTimeout(resolve, ms);
	});
}
