/**
 * When the container's memory is worth a warning: a pure decision over one
 * sample, with hysteresis so a usage hovering at the threshold warns once
 * per crossing, not at every sample.
 */

export interface MemorySample {
	/** The container's usage (bytes). */
	readonly usage: number;
	/** Its limit (bytes); undefined: none known, nothing to warn about. */
	readonly limit: number | undefined;
	/** The agent's tool processes (the engine's descendants), bytes. */
	readonly tools: number;
}

/** Below `threshold` minus this share of the limit, a later crossing warns again. */
const REARM_SHARE = 0.05;

export interface PressureState {
	/** A warning was given since usage last went clearly below the threshold. */
	readonly warned: boolean;
}

export const calm: PressureState = { warned: false };

/** `thresholdPercent`: MEMORY_WARNING_PERCENT of the limit; 0: never. */
export function pressureStep(
	s: PressureState,
	m: MemorySample,
	thresholdPercent: number,
): { state: PressureState; warning: string | undefined } {
	if (m.limit === undefined || thresholdPercent <= 0) return { state: calm, warning: undefined };
	const threshold = (m.limit * thresholdPercent) / 100;
	if (m.usage < threshold - m.limit * REARM_SHARE) return { state: calm, warning: undefined };
	if (m.usage < threshold || s.warned) return { state: s, warning: undefined };
	const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;
	return {
		state: { warned: true },
		warning:
			`container memory ${mib(m.usage)} of its ${mib(m.limit)} limit is above MEMORY_WARNING_PERCENT ${thresholdPercent} %; ` +
			`the agent's tool processes use ${mib(m.tools)}: the container may be OOM-killed`,
	};
}
