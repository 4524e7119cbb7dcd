import { type EngineEvent, engineSessionOf, parentSessionOf } from "../engine/events";
import type { EngineSignal } from "../engine/translate";
import type { GatewaySignal } from "../gateway/credentials";
import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import { agentRequest, isAgentRequest } from "./agent-requests";
import type { RunExecutor } from "./executor";
import type { SessionRegistry } from "./registry";
import type { RunInput } from "./run-effects";
import type { Session } from "./session";

export interface RouterDeps {
	readonly registry: SessionRegistry;
	readonly executor: RunExecutor;
	readonly clock: Clock;
	readonly log: Logger;
}

/**
 * Routes what the engine and the gateway report to the session it belongs to: engine events
 * through the session's translator (output to the stream; the engine's busy, idle, errors and
 * retries to its run machine, which decides), permission requests and questions (of the session
 * or its sub-agents) to the machine, gateway signals to the machine.
 */
export class EngineRouter {
	constructor(private readonly deps: RouterDeps) {}

	/**
	 * A burst of engine events (one network read). Consecutive pieces of live
	 * output of a session become one event; each session's held output is
	 * released when the burst has been handled.
	 */
	onEngineEvents(batch: readonly EngineEvent[]): void {
		const touched = new Set<Session>();
		for (const e of batch) {
			// One event that cannot be handled must not cost the rest of the burst.
			try {
				this.onEngineEvent(e, touched);
			} catch (error) {
				this.deps.log.error({ err: String(error), event_type: e.type }, "engine event not handled");
			}
		}
		for (const s of touched) s.releaseOutput();
	}

	/** Handles one engine event; a session it may hold output for goes into `touched`. */
	private onEngineEvent(e: EngineEvent, touched: Set<Session>): void {
		const { registry, executor } = this.deps;
		const child = parentSessionOf(e);
		if (child) {
			const parent = registry.forEngine(child.parentID);
			if (parent) registry.bindEngine(child.id, parent);
		}
		const engineId = engineSessionOf(e);
		const session = engineId === undefined ? undefined : registry.forEngine(engineId);
		if (!session) return;
		if (isAgentRequest(e)) {
			const request = agentRequest(e);
			if (request) void executor.dispatch(session, request);
			return;
		}
		// Events of sub-agent sessions only matter for credentials, permissions and questions.
		if (engineId !== session.record.engine_session_id || session.ended) return;
		touched.add(session);
		const { events, signal } = session.translator.translate(e, this.deps.clock.now(), session.run.listening);
		for (const ev of events) {
			if (ev.event === "error" && !ev.data.fatal && ev.data.code !== "parameter_ignored") {
				// A provider retry: the machine decides its code (with the gateway's signals) and counts it.
				const { code, error, retry_after } = ev.data;
				void executor.dispatch(session, {
					type: "retry",
					code,
					error,
					...(retry_after === undefined ? {} : { retryAfter: retry_after }),
				});
			} else if (ev.event === "output") session.holdOutput(ev);
			else session.emit(ev);
		}
		if (signal) void executor.dispatch(session, signalInput(signal));
	}

	/** What the gateway reports about an engine session's provider calls; subscribed once. */
	onGatewaySignal(signal: GatewaySignal): void {
		const session = this.deps.registry.forEngine(signal.engineSessionId);
		if (!session) return;
		switch (signal.kind) {
			case "call":
				// Nothing to decide when a call starts; its answer (`upstream`) and stalls are what count.
				return;
			case "upstream":
				void this.deps.executor.dispatch(session, { type: "upstream", status: signal.status });
				return;
			case "notice":
				session.notice(signal.message, this.deps.clock.now());
				return;
			case "stalled":
				void this.deps.executor.dispatch(session, { type: "stalled", message: signal.message });
		}
	}
}

/** The engine's report on its work as an input of the run machine. */
export function signalInput(signal: EngineSignal): RunInput {
	switch (signal.type) {
		case "busy":
			return { type: "engineBusy" };
		case "error":
			return { type: "engineError", outcome: signal.outcome };
		case "idle":
			return {
				type: "engineIdle",
				...(signal.unsettled ? { unsettled: true } : {}),
				...(signal.error ? { error: signal.error } : {}),
			};
	}
}
