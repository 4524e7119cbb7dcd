import { rmSync } from "node:fs";
import { join } from "node:path";
import { engineModelFor } from "../engine/config";
import type { Engine, SessionSettings } from "../engine/engine";
import { toolSwitches } from "../engine/tools";
import type { KeyRing } from "../gateway/key-ring";
import { ValidationFailed } from "../http/errors";
import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import { withTimeout } from "../lib/timeout";
import type { Tracing } from "../telemetry/port";
import { QuestionNotFound } from "./errors";
import type { LifecycleObservers } from "./observers";
import type { SessionRegistry } from "./registry";
import type { RunEffect, RunInput } from "./run-effects";
import { runTransition } from "./run-machine";
import type { Session } from "./session";
import type { ExecutorSettings } from "./settings";
import type { SessionStore } from "./store";
import type { WorkspaceRuns } from "./workspace-runs";

export interface ExecutorDeps {
	/** Its slice of the configuration (settings.ts). */
	readonly settings: ExecutorSettings;
	readonly store: SessionStore;
	readonly engine: Engine;
	readonly clock: Clock;
	readonly log: Logger;
	readonly registry: SessionRegistry;
	/** Where the run machine's `dropKey` lets a key go. */
	readonly keyRing: KeyRing;
	readonly observers: LifecycleObservers;
	readonly workspace: WorkspaceRuns;
	/** Told of every step (spans of the run, its waits and questions); absent: nothing. */
	readonly tracing?: Tracing;
}

/**
 * Feeds inputs to a session's run machine and applies the effects it answers, in order, after
 * the reducer has returned: the only writer of `session.run`. Engine calls (launch, abort) run
 * asynchronously and report back as inputs.
 */
export class RunExecutor {
	/** Each session's newest launch: a resumed run relaunches under the same run number. */
	private readonly launches = new WeakMap<Session, object>();

	constructor(private readonly deps: ExecutorDeps) {}

	/** One input; resolves when the engine aborts it asked for are done (a cancel waits for them). Never rejects. */
	dispatch(session: Session, input: RunInput): Promise<void> {
		const { waits } = this.step(session, input);
		return Promise.all(waits).then(() => undefined);
	}

	/**
	 * A client's answer to a question of the session. Refused (404, 400) as the machine says;
	 * resolves when the engine has the answer, and fails if it could not be given.
	 */
	async answer(
		session: Session,
		questionId: string,
		answers: string[][],
	): Promise<{ question_id: string; answers: string[][] }> {
		const { effects, reply } = this.step(session, { type: "questionAnswered", id: questionId, answers });
		const refused = effects.find((e) => e.type === "refuseAnswer");
		if (refused?.type === "refuseAnswer" && refused.problem) throw new ValidationFailed("answers", refused.problem);
		if (!reply) throw new QuestionNotFound();
		await reply;
		return { question_id: questionId, answers };
	}

	/**
	 * Runs the machine for one input and applies its effects in order. `waits`: the engine
	 * aborts asked for; `reply`: the engine's answer to a client's answer of a question.
	 */
	private step(
		session: Session,
		input: RunInput,
	): { effects: readonly RunEffect[]; waits: Promise<void>[]; reply?: Promise<void> } {
		const { state, effects } = runTransition(session.run, input, this.deps.settings, this.deps.clock.now());
		session.run = state;
		this.deps.tracing?.transition({ sessionId: session.id, run: state.run, input, effects });
		const waits: Promise<void>[] = [];
		let reply: Promise<void> | undefined;
		for (const e of effects) {
			if (e.type === "abort") waits.push(this.abortInEngine(session));
			else if (e.type === "replyQuestion" && e.by === "client") reply = this.deps.engine.replyQuestion(e.id, e.answers);
			else this.apply(session, e);
		}
		if (effects.some((e) => e.type === "end")) this.prune();
		return reply ? { effects, waits, reply } : { effects, waits };
	}

	private apply(session: Session, e: Exclude<RunEffect, { type: "abort" }>): void {
		const { clock, log } = this.deps;
		switch (e.type) {
			case "begin":
				// A new run (or a resumed one): its engine messages are the ones created from now on.
				session.translator.beginRun(clock.now());
				this.traced(session);
				session.begin(clock.now());
				this.deps.observers.announce(session);
				return;
			case "launch":
				// After the reducer and the handler that gave the input (an engine event) have returned.
				queueMicrotask(() => void this.launch(session, e.run, e.prompt));
				return;
			case "store":
				session.emit(e.event);
				return;
			case "armTimer":
				session.timer?.();
				session.timer = clock.setTimeout(() => {
					session.timer = undefined;
					void this.dispatch(session, { type: "timeout", run: e.run });
				}, e.ms);
				return;
			case "cancelTimer":
				session.timer?.();
				session.timer = undefined;
				return;
			case "end": {
				// A completed run was scanned before it ended (see finishCompleted); any other is scanned now, after.
				if (e.end.status !== "completed") void this.deps.workspace.scan(session);
				session.end(e.end, clock.now());
				// A launch still in flight stops at the session's end anyway (see `launch`); nothing of it stays held.
				this.launches.delete(session);
				this.deps.observers.announce(session);
				const r = session.record;
				const level = e.end.status === "completed" || e.end.status === "cancelled" ? "info" : "warn";
				log[level](
					{
						session_id: r.session_id,
						status: r.status,
						code: r.error?.code,
						last_event_id: session.channel.lastId,
						// The run that ended (a queued follow-up's run may begin in the same step).
						trace_id: r.trace_id,
					},
					"session ended",
				);
				return;
			}
			case "dropKey":
				this.deps.keyRing.drop(session.id);
				return;
			case "finish":
				void this.finishCompleted(session, e.run);
				return;
			case "replyPermission":
				this.deps.engine.replyPermission(e.id, e.reply, e.message).catch((error) => {
					log.warn({ session_id: session.id, err: String(error) }, "could not answer a permission request");
				});
				return;
			case "replyQuestion":
				// Given by its timeout (a client's answer is given in `step`, for the client to wait on).
				this.deps.engine.replyQuestion(e.id, e.answers).catch((error) => {
					log.warn({ session_id: session.id, err: String(error) }, "could not answer a question");
				});
				return;
			case "armQuestionTimer":
				session.questionTimer(
					e.id,
					clock.setTimeout(() => {
						session.questionTimerDone(e.id);
						void this.dispatch(session, { type: "questionTimedOut", id: e.id });
					}, e.ms),
				);
				return;
			case "cancelQuestionTimer":
				session.questionTimer(e.id);
				return;
			case "refuseAnswer":
				// The client is told (see `answer`).
				return;
		}
	}

	/** The record names the trace of its newest run (saved with it by `begin`), for its status. */
	private traced(session: Session): void {
		const traceId = this.deps.tracing?.traceId(session.id);
		if (traceId) session.traced(traceId);
	}

	/**
	 * The engine's part of a run: create the engine session if there is none yet and send the
	 * prompt; the outcome goes back to the machine (`launched`, `launchFailed`), which decides.
	 */
	private async launch(session: Session, run: number, prompt: string): Promise<void> {
		const { engine, log, settings: slice, clock } = this.deps;
		const attempt = {};
		this.launches.set(session, attempt);
		const current = () =>
			this.launches.get(session) === attempt &&
			session.run.run === run &&
			session.run.phase === "launching" &&
			!session.run.closed;
		if (!current()) return;
		// The run's engine messages (a relaunch after the engine went away under the launch) start afresh.
		session.translator.beginRun();
		// The workspace's state is taken while the engine creates its session: both come before the prompt.
		const began = this.deps.workspace
			.begin(session.id)
			.catch((error) => log.warn({ session_id: session.id, err: String(error) }, "workspace state not taken"));
		try {
			if (!(await this.usable(current))) return;
			// A new engine's warm-up (its lazy project set-up) comes first: a create sent meanwhile competes with it
			// for the CPU and, on a loaded node, outlasted ENGINE_CALL_TIMEOUT. Bounded by the engine's start timeout.
			await engine.whenWarm();
			if (!(await this.usable(current))) return;
			const settings = engineSettings(session.record);
			if (!session.record.engine_session_id) {
				const engineId = await withTimeout(
					clock,
					slice.engineCallTimeoutMs,
					engine.createSession(`sidecar ${session.id}`, settings),
				);
				session.bindEngine(engineId);
				this.deps.registry.bindEngine(engineId, session);
				log.info({ session_id: session.id, engine_session_id: engineId }, "engine session created");
			}
			if (!current()) return;
			// Before the engine has the prompt: everything the run changes is after this.
			await began;
			if (!(await this.usable(current))) return;
			const engineId = session.record.engine_session_id;
			if (!engineId) throw new Error("session has no engine session");
			await withTimeout(clock, slice.engineCallTimeoutMs, engine.prompt(engineId, { text: prompt, ...settings }));
			await this.dispatch(session, { type: "launched", run });
		} catch (error) {
			// Ended meanwhile, or superseded by a relaunch (whose outcome is the one that counts).
			if (session.ended || session.run.closed || this.launches.get(session) !== attempt) return;
			const wentAway = await this.engineWentAway(session);
			if (wentAway) log.warn({ session_id: session.id, err: String(error) }, "engine went away while starting the run");
			else if (session.run.phase === "launching")
				log.error({ session_id: session.id, err: String(error) }, "engine refused the run");
			await this.dispatch(session, {
				type: "launchFailed",
				run,
				wentAway,
				reason: "the engine went away while the run was starting",
			});
		}
	}

	/**
	 * Before an engine call of a launch: an engine whose event feed is reconnecting (a blip, not a
	 * lost process) is waited for, bounded by ENGINE_CALL_TIMEOUT, rather than failing the launch
	 * with a spurious "the engine went away". A lost engine interrupts the run meanwhile (the
	 * machine), and the launch then stops. True when the launch should go on.
	 */
	private async usable(current: () => boolean): Promise<boolean> {
		const { engine, clock, settings } = this.deps;
		if (!engine.ready) await withTimeout(clock, settings.engineCallTimeoutMs, engine.whenReady());
		return current();
	}

	/**
	 * The engine completed run `run` (SESSION_TIMEOUT stopped): the workspace is scanned, so that
	 * its `complete` event lists every file the run changed; then the run ends (unless it was ended
	 * meanwhile, e.g. cancelled: the machine then ignores this).
	 */
	private async finishCompleted(session: Session, run: number): Promise<void> {
		const changed = await this.deps.workspace.scan(session);
		if (session.ended) return; // cancelled meanwhile; the changes are recorded
		const t = session.translator;
		const filesModified = [...new Set([...t.filesModified, ...changed])];
		const end = { status: "completed", finalMessage: t.finalMessage, filesModified, usage: t.usage } as const;
		await this.dispatch(session, { type: "engineEnded", run, end });
	}

	/**
	 * After a failed engine call: did the engine go away (exited, recycled, its stream lost),
	 * rather than refuse? A process that just died may not have been seen exiting yet: one
	 * health check gives it the time.
	 */
	private async engineWentAway(session: Session): Promise<boolean> {
		const { engine } = this.deps;
		if (session.awaitingResume || !engine.ready) return true;
		await engine.healthy(1000);
		return session.awaitingResume || !engine.ready;
	}

	async abortInEngine(session: Session): Promise<void> {
		const engineId = session.record.engine_session_id;
		if (!engineId) return;
		// The feed reconnecting (or a new engine starting): abort once it is back, without holding the caller.
		if (!this.deps.engine.ready) return void this.abortWhenReady(session, engineId);
		try {
			await withTimeout(this.deps.clock, this.deps.settings.engineCallTimeoutMs, this.deps.engine.abort(engineId));
		} catch (error) {
			this.deps.log.warn({ session_id: session.id, err: String(error) }, "engine abort failed");
		}
	}

	private async abortWhenReady(session: Session, engineId: string): Promise<void> {
		const { engine, clock, settings, log } = this.deps;
		try {
			await withTimeout(clock, settings.engineCallTimeoutMs, engine.whenReady());
			await withTimeout(clock, settings.engineCallTimeoutMs, engine.abort(engineId));
		} catch (error) {
			log.warn({ session_id: session.id, err: String(error) }, "engine abort failed");
		}
	}

	/** Keeps at most MAX_STORED_SESSIONS ended sessions on disk, removing the oldest. */
	prune(): void {
		const removed = this.deps.registry.prune(this.deps.settings.maxStoredSessions);
		for (const s of removed) {
			void this.dispatch(s, { type: "prune" });
			s.channel.log.close();
			rmSync(join(this.deps.store.root, s.id), { recursive: true, force: true });
			this.deps.workspace.forget(s.id);
			this.deps.log.info({ session_id: s.id }, "old session removed (MAX_STORED_SESSIONS)");
			// Its conversation too: the engine's database would otherwise grow with every session the pod ever ran.
			const engineId = s.record.engine_session_id;
			if (engineId) void this.deleteInEngine(s.id, engineId);
		}
		if (removed.length > 0) this.deps.workspace.sessionsRemoved();
	}

	private async deleteInEngine(sessionId: string, engineId: string): Promise<void> {
		const { engine, settings, clock, log } = this.deps;
		try {
			await engine.whenWarm();
			await withTimeout(clock, settings.engineCallTimeoutMs, engine.deleteSession(engineId));
		} catch (error) {
			log.warn({ session_id: sessionId, err: String(error) }, "engine copy of a removed session not deleted");
		}
	}
}

/** What the engine is told about the session's runs (engine/engine.ts): the same at its creation and each prompt. */
function engineSettings(record: Session["record"]): SessionSettings {
	return {
		...(record.system_prompt === undefined ? {} : { system: record.system_prompt }),
		tools: toolSwitches(record.enabled_tools, record.read_only),
		model: engineModelFor(record.provider),
		...(record.agent === undefined ? {} : { agent: record.agent }),
	};
}
