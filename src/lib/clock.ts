/**
 * Time, injected so tests can drive it (see test/support/manual-clock.ts).
 * An interface rather than @sinonjs/fake-timers: faking the globals would also stop Bun's, Elysia's and the SDK's timers.
 */
export interface Clock {
	/** Milliseconds since the epoch. */
	now(): number;
	setTimeout(fn: () => void, ms: number): Cancel;
	setInterval(fn: () => void, ms: number): Cancel;
}

/** Stops a timer; safe to call more than once. */
export type Cancel = () => void;

export const systemClock: Clock = {
	now: () => Date.now(),
	setTimeout(fn, ms) {
		const t = setTimeout(fn, ms);
		return () => clearTimeout(t);
	},
	setInterval(fn, ms) {
		const t = setInterval(fn, ms);
		return () => clearInterval(t);
	},
};

export const isoTime = (ms: number): string => new Date(ms).toISOString();
