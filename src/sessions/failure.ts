import type { FailedOutcome, RunOutcome } from "../engine/outcome";
import type { ErrorCode, Usage } from "../events/catalogue";
import type { RunEnd } from "./lifecycle";

/** What the gateway told about a run's provider calls (see GatewaySignal). */
export interface ProviderSignals {
	/** HTTP status of the provider's latest response, as the gateway saw it. */
	readonly lastStatus?: number;
}

/** What the translator knows of a run when it completes. */
export interface RunResult {
	readonly finalMessage: string;
	readonly filesModified: string[];
	readonly usage: Usage;
}

/**
 * The one place a failure code is decided, from the translated engine error and the gateway's
 * signals. A retry notice: the engine's retry event carries the provider's message, not its
 * status; the gateway saw the status, which wins over the translator's guess from the message.
 */
export function retryCode(translated: ErrorCode, signals: ProviderSignals): ErrorCode {
	if (signals.lastStatus === undefined) return translated;
	return signals.lastStatus === 429 ? "provider_rate_limited" : "provider_error";
}

/** How a run the engine ended ends. */
export function endFromEngine(outcome: RunOutcome, result: RunResult): RunEnd {
	if (outcome.status === "completed") return { status: "completed", ...result };
	return endFromError(outcome);
}

/** How a run the engine ended with an error (or aborted) ends. */
export function endFromError(outcome: FailedOutcome): RunEnd {
	if (outcome.status === "aborted") {
		return { status: "failed", code: "engine_error", error: "the engine aborted the run" };
	}
	return { status: "failed", code: outcome.code, error: outcome.error };
}

/** The provider went silent past PROVIDER_IDLE_TIMEOUT (the gateway's `stalled` signal). */
export function endFromStall(message: string): RunEnd {
	return { status: "failed", code: "provider_timeout", error: message };
}

/** The engine retried more than PROVIDER_MAX_RETRIES times. */
export function endFromRetries(code: ErrorCode, error: string, max: number): RunEnd {
	return { status: "failed", code, error: `gave up after ${max} retries (PROVIDER_MAX_RETRIES): ${error}` };
}
