import type { Cancel, Clock } from "../lib/clock";
import { calm, type MemorySample, type PressureState, pressureStep } from "./pressure";

export interface MemoryWatchOptions {
	readonly intervalMs: number;
	/** MEMORY_WARNING_PERCENT; 0: never. */
	readonly thresholdPercent: number;
	readonly clock: Clock;
	/** One reading of the container's usage, limit and tool processes. */
	readonly sample: () => MemorySample;
	/** Told the warning's text when usage crosses the threshold (once per crossing). */
	readonly warn: (message: string) => void;
}

/**
 * Samples the container's memory while runs are in progress (the sidecar
 * starts and stops it with them) and warns when it crosses the threshold,
 * so a backend learns why a run died before the OOM killer tells it.
 */
export class MemoryWatch {
	private state: PressureState = calm;
	private stop: Cancel | undefined;

	constructor(private readonly options: MemoryWatchOptions) {}

	start(): void {
		if (this.options.thresholdPercent <= 0) return;
		this.stop ??= this.options.clock.setInterval(() => this.check(), this.options.intervalMs);
	}

	close(): void {
		this.stop?.();
		this.stop = undefined;
	}

	/** One sample; returns the warning it gave, if any. */
	check(): string | undefined {
		const { state, warning } = pressureStep(this.state, this.options.sample(), this.options.thresholdPercent);
		this.state = state;
		if (warning) this.options.warn(warning);
		return warning;
	}
}
