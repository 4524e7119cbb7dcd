import type { Engine } from "../engine/engine";
import { type EngineEvent, isObject } from "../engine/events";
import { reconcileEvents } from "../engine/reconcile";
import type { Logger } from "../lib/log";
import type { RunInput } from "./run-effects";
import type { Session } from "./session";

export interface ReconcilerDeps {
	readonly engine: Pick<Engine, "sessionState" | "pendingRequests">;
	readonly log: Logger;
	/** Every session known. */
	readonly sessions: () => Iterable<Session>;
	/** Hands synthesized engine events to the sessions, as if the feed had carried them. */
	readonly apply: (events: readonly EngineEvent[]) => void;
	/** Gives the session's run machine an input. */
	readonly dispatch: (session: Session, input: RunInput) => void;
}

/**
 * Reconciliation, the I/O part (the pure part is engine/reconcile.ts): after
 * the engine's event feed reconnects, and after a recycled engine comes back,
 * reads each running session's state from the engine and hands on what the
 * feed missed; then re-announces the permission requests and questions the
 * engine still waits on (the sessions answer each id once).
 */
export class Reconciler {
	constructor(private readonly deps: ReconcilerDeps) {}

	async run(): Promise<void> {
		for (const session of [...this.deps.sessions()]) await this.session(session);
		await this.requests();
	}

	private async session(session: Session): Promise<void> {
		const engineId = session.record.engine_session_id;
		// An ended session has no translator (and nothing to reconcile).
		if (session.ended) return;
		const t = session.translator;
		const runStartedAt = t.runStartedAt;
		// A run the engine has not taken yet is (re)launched with its own prompt instead.
		if (!engineId || session.launching !== undefined || runStartedAt === undefined) return;
		if (!session.run.listening && !session.awaitingResume) return;
		const { log } = this.deps;
		let state: Awaited<ReturnType<Engine["sessionState"]>>;
		try {
			state = await this.deps.engine.sessionState(engineId);
		} catch (error) {
			log.warn({ session_id: session.id, err: String(error) }, "could not read the engine's state to reconcile");
			return;
		}
		if (session.ended) return;
		const events = reconcileEvents({
			engineSessionId: engineId,
			state,
			runStartedAt,
			progress: (id) => t.progressOf(id),
		});
		const before = session.channel.lastId;
		// A run set aside by an engine recycle may have finished before the engine went away.
		const reopened = session.awaitingResume && !session.run.listening;
		if (reopened) this.deps.dispatch(session, { type: "reopen" });
		this.deps.apply(events);
		if (reopened && !session.ended) this.deps.dispatch(session, { type: "setAside" });
		log.info(
			{
				session_id: session.id,
				engine_status: state.status,
				stored: session.channel.lastId - before,
				ended: session.ended,
			},
			"session reconciled with the engine",
		);
	}

	private async requests(): Promise<void> {
		let pending: { permissions: unknown[]; questions: unknown[] };
		try {
			pending = await this.deps.engine.pendingRequests();
		} catch (error) {
			this.deps.log.warn({ err: String(error) }, "could not read the engine's pending requests");
			return;
		}
		const events: EngineEvent[] = [
			...pending.permissions.filter(isObject).map((properties) => ({ type: "permission.asked", properties })),
			...pending.questions.filter(isObject).map((properties) => ({ type: "question.asked", properties })),
		];
		if (events.length > 0) this.deps.apply(events);
	}
}
