import type { Clock } from "../lib/clock";
import { deadline } from "../lib/timeout";

/** One engine call that took longer than allowed. */
export class EngineCallTimeout extends Error {
	constructor(what: string, ms: number) {
		super(`engine call ${what} timed out after ${ms} ms`);
		this.name = "EngineCallTimeout";
	}
}

/** Runs `call` with an abort signal that fires after `ms` on `clock`; a call cut short throws `EngineCallTimeout`. */
export async function boundedCall<T>(
	clock: Clock,
	ms: number,
	what: string,
	call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
	const limit = deadline(clock, ms);
	try {
		return await call(limit.signal);
	} catch (error) {
		throw limit.signal.aborted ? new EngineCallTimeout(what, ms) : error;
	} finally {
		limit.cancel();
	}
}
