import type { Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import { pause } from "./lib/timeout";

export interface ShutdownSteps {
	readonly clock: Clock;
	readonly log: Logger;
	/** SHUTDOWN_DELAY: time for the pod to leave Service endpoints before anything stops. */
	readonly delayMs: number;
	/** SHUTDOWN_TIMEOUT: after this the process exits 1, whatever is left. */
	readonly timeoutMs: number;
	/** Readiness 503, new sessions refused. */
	drain(): void;
	/** Streams, logs, engine, gateway, then the listener. */
	stop(): Promise<void>;
	exit(code: number): void;
}

/**
 * The sidecar's answer to SIGTERM/SIGINT: readiness turns 503 and new sessions
 * are refused at once; after SHUTDOWN_DELAY open streams end cleanly (clients
 * resume with Last-Event-ID on the next pod), logs are flushed and the engine
 * is stopped. Whatever remains after SHUTDOWN_TIMEOUT is cut short (exit 1).
 * Runs still in progress stay recorded as running and end `interrupted` when
 * the sidecar starts again on the same state directory. A second signal while
 * shutting down changes nothing.
 */
export function shutdownOnSignal(steps: ShutdownSteps): (signal: string) => Promise<void> {
	let stopping = false;
	return async (signal) => {
		if (stopping) return;
		stopping = true;
		const { clock, log, delayMs, timeoutMs } = steps;
		log.info({ signal, delay_ms: delayMs, timeout_ms: timeoutMs }, "shutting down: not ready");
		const cancelDeadline = clock.setTimeout(() => {
			log.error("shutdown did not finish within SHUTDOWN_TIMEOUT; exiting");
			log.flush?.();
			steps.exit(1);
		}, timeoutMs);
		steps.drain();
		await pause(clock, delayMs);
		await steps.stop();
		cancelDeadline();
		log.info("stopped");
		log.flush?.();
		steps.exit(0);
	};
}
