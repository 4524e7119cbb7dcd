import type { RunCarry, RunTranslator, TranslatorOptions } from "../engine/translate";
import type { LoggedEvent, StoredEvent } from "../events/catalogue";
import type { EventChannel } from "../events/channel";
import { joinOutputs } from "../events/coalesce";
import type { Cancel } from "../lib/clock";
import { isoTime } from "../lib/clock";
import { type RunEnd, terminalEvents } from "./lifecycle";
import { isEnded, type SessionRecord, toStatus } from "./record";
import { INITIAL_RUN, type RunState } from "./run-effects";
import type { SessionStatus } from "./schemas";
import type { SessionStore } from "./store";

/** Makes a run's translator, starting from what the session's earlier runs recorded. */
export type TranslatorFactory = (initial: NonNullable<TranslatorOptions["initial"]>) => RunTranslator;

/**
 * One session: its record, its event channel and (while a run is live) the
 * translator of its engine events. Its key is held by the key ring
 * (gateway/key-ring.ts), not here.
 *
 * An ended session, stored for as long as MAX_STORED_SESSIONS allows, holds
 * its record, its (sealed) log and its channel, and of its runs only what the
 * next one needs (`RunCarry`): no translator, no timers (issue 13).
 */
export class Session {
	/** The executor's handle on the run's SESSION_TIMEOUT timer. */
	timer: Cancel | undefined;
	/** The executor's handles on the QUESTION_TIMEOUT timers of the run's open questions (by question id); made when needed. */
	private questionTimers: Map<string, Cancel> | undefined;

	private runState: RunState = INITIAL_RUN;
	/** Made when the session says its first notice. */
	private notices: Set<string> | undefined;
	/** Live output held back so the next pieces of the same stream join it (see `holdOutput`). */
	private heldOutput: LoggedEvent | undefined;
	/** The translator of the current run; made on first use in a run, let go when it ends. */
	private current: RunTranslator | undefined;
	/** What the ended runs of this process left for the next one; undefined before the first ends. */
	private carried: RunCarry | undefined;

	constructor(
		private readonly stored: SessionRecord,
		readonly channel: EventChannel,
		private readonly makeTranslator: TranslatorFactory,
		private readonly store: SessionStore,
	) {}

	/** What is kept on disk about the session: written and saved only here, read everywhere. */
	get record(): Readonly<SessionRecord> {
		return this.stored;
	}

	/** The engine took a session for this one: kept at once, so a restart finds it. */
	bindEngine(engineSessionId: string): void {
		this.stored.engine_session_id = engineSessionId;
		this.store.save(this.stored);
	}

	/** The trace of the newest run (tracing on), saved with the record by `begin`. */
	traced(traceId: string): void {
		this.stored.trace_id = traceId;
	}

	/** The agent of the runs from the next one on (a follow-up named another). */
	chooseAgent(name: string, readOnly: boolean): void {
		Object.assign(this.stored, { agent: name, read_only: readOnly });
	}

	/**
	 * What a run changed in the workspace (the tracker's scan), by path; an ended session's list of
	 * modified files takes the paths too, and is saved.
	 */
	workspaceChanged(changes: Record<string, "added" | "modified" | "deleted">, paths: readonly string[]): void {
		const r = this.stored;
		r.workspace_changes = changes;
		if (this.ended && paths.length > 0) {
			r.files_modified = [...new Set([...r.files_modified, ...paths])];
			this.store.save(r);
		}
	}

	/** The run's state: written only by the executor, from the run machine (run-machine.ts). */
	get run(): RunState {
		return this.runState;
	}

	set run(state: RunState) {
		this.runState = state.phase === "idle" ? settled(state) : state;
	}

	/**
	 * The translator of the current run's engine events. A session's first run (or the first in
	 * this process) starts from its record, a follow-up from what the ended runs carried over.
	 */
	get translator(): RunTranslator {
		this.current ??= this.makeTranslator({
			files: this.carried?.files ?? this.record.files_modified,
			...(this.record.usage ? { usage: this.record.usage } : {}),
			...this.carried,
		});
		return this.current;
	}

	/** Paths this session's own tools changed (for telling other sessions' changes apart; see workspace-runs.ts). */
	get ownEdits(): readonly string[] {
		return this.current?.filesModified ?? this.carried?.files ?? this.record.files_modified;
	}

	/** Replaces the QUESTION_TIMEOUT timer of question `id` (cancelling the one before); without `timer`, cancels it. */
	questionTimer(id: string, timer?: Cancel): void {
		this.questionTimers?.get(id)?.();
		if (timer) {
			this.questionTimers ??= new Map();
			this.questionTimers.set(id, timer);
		} else this.questionTimerDone(id);
	}

	/** The timer of question `id` fired (or was cancelled): its handle goes. */
	questionTimerDone(id: string): void {
		this.questionTimers?.delete(id);
		if (this.questionTimers?.size === 0) this.questionTimers = undefined;
	}

	/** QUESTION_TIMEOUT timers armed. */
	get questionTimersArmed(): number {
		return this.questionTimers?.size ?? 0;
	}

	get id(): string {
		return this.record.session_id;
	}

	get ended(): boolean {
		return isEnded(this.record);
	}

	/** The run waits for the engine (or its key) to come back. */
	get awaitingResume(): boolean {
		return this.run.phase === "awaiting";
	}

	/** The prompt of a run the engine has not taken yet. */
	get launching(): string | undefined {
		return this.run.prompt;
	}

	status(): SessionStatus {
		return toStatus(this.record, this.channel.lastId);
	}

	/** Stores and fans out one event, after any output held back. */
	emit(event: LoggedEvent): StoredEvent {
		this.releaseOutput();
		return this.publish(event);
	}

	/**
	 * Takes a piece of live output (assistant text, reasoning, a tool's
	 * output) and holds it, so that the next pieces of the same stream join
	 * it as one event: the engine sends tokens in bursts, and one event per
	 * burst costs a fraction of one per token to store and send. The caller
	 * releases it at the end of the burst, in the same tick: nothing waits on
	 * a timer, and any other event releases it first, so the order is kept.
	 */
	holdOutput(event: LoggedEvent): void {
		const joined = this.heldOutput && joinOutputs(this.heldOutput, event);
		if (joined) {
			this.heldOutput = joined;
			return;
		}
		this.releaseOutput();
		this.heldOutput = event;
	}

	/** Stores and sends the output held back, if any. */
	releaseOutput(): void {
		const held = this.heldOutput;
		if (!held) return;
		this.heldOutput = undefined;
		this.publish(held);
	}

	private publish(event: LoggedEvent): StoredEvent {
		const stored = this.channel.publish(event);
		this.stored.updated_at = event.data.timestamp;
		if (event.event === "status" && event.data.progress !== undefined) this.stored.progress = event.data.progress;
		return stored;
	}

	/** A run is starting: the record says so and the stream gets a `status` event. */
	begin(nowMs: number): void {
		const timestamp = isoTime(nowMs);
		this.stored.status = "running";
		delete this.stored.error;
		this.stored.started_at ??= timestamp;
		this.stored.ended_at = null;
		this.stored.updated_at = timestamp;
		this.store.save(this.stored);
		this.emit({ event: "status", data: { status: "running", timestamp } });
	}

	/** Says once per session that a parameter could not be applied as asked. */
	notice(message: string, nowMs: number): void {
		if (this.ended || this.notices?.has(message)) return;
		this.notices ??= new Set();
		this.notices.add(message);
		this.emit({
			event: "error",
			data: {
				error: message,
				fatal: false,
				code: "parameter_ignored",
				timestamp: isoTime(nowMs),
			},
		});
	}

	/**
	 * Ends the current run: the final `status` and the terminal event, the
	 * record saved and the log flushed to disk. Returns false if the run had
	 * already ended.
	 */
	end(end: RunEnd, nowMs: number): boolean {
		if (this.ended) return false;
		const timestamp = isoTime(nowMs);
		const r = this.stored;
		r.status = end.status;
		r.ended_at = timestamp;
		r.updated_at = timestamp;
		const t = this.translator;
		r.files_modified = [...new Set([...t.filesModified, ...Object.keys(r.workspace_changes ?? {})])];
		r.usage = t.usage;
		const progress = t.progress;
		if (progress !== undefined) r.progress = progress;
		if (end.status === "cancelled") r.cancelled_at = timestamp;
		if (end.status === "completed") delete r.error;
		else r.error = { code: end.code, message: end.error };
		for (const e of terminalEvents(end, timestamp)) this.emit(e);
		r.last_event_id = this.channel.lastId;
		this.store.save(r);
		// What the translator kept of the run's engine messages is not needed after its terminal event:
		// the translator goes, and what the next run needs of it (a few ids and paths) stays.
		t.runEnded();
		this.carried = t.carry();
		this.current = undefined;
		// The index goes beside the log and the descriptor is let go: a stored log costs nothing until read.
		this.channel.log.seal();
		return true;
	}
}

/**
 * An ended run's state with the machine's empty lists replaced by the shared initial ones: the
 * same values (the state is read-only), without a few arrays per stored session.
 */
function settled(state: RunState): RunState {
	const shared = <T>(list: readonly T[], initial: readonly T[]) => (list.length === 0 ? initial : list);
	const queue = shared(state.queue, INITIAL_RUN.queue);
	const questions = shared(state.questions, INITIAL_RUN.questions);
	const handled = shared(state.handled, INITIAL_RUN.handled);
	if (queue === state.queue && questions === state.questions && handled === state.handled) return state;
	return { ...state, queue, questions, handled };
}
