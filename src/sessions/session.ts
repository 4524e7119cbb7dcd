import type { RunTranslator } from "../engine/translate";
import type { LoggedEvent, StoredEvent } from "../events/catalogue";
import type { EventChannel } from "../events/channel";
import { joinOutputs } from "../events/coalesce";
import type { SessionCredentials } from "../gateway/credentials";
import type { Cancel } from "../lib/clock";
import { isoTime } from "../lib/clock";
import { type RunEnd, terminalEvents } from "./lifecycle";
import { isEnded, type SessionRecord, toStatus } from "./record";
import { INITIAL_RUN, type RunState } from "./run-effects";
import type { SessionStatus } from "./schemas";
import type { SessionStore } from "./store";

/**
 * One session: its record, its event channel, the translator of its engine
 * events, and (while a run is live) its credentials, which exist only here,
 * in memory.
 */
export class Session {
	/** The key and call parameters; held or dropped as the run machine says (`dropKey`). */
	credentials: SessionCredentials | undefined;
	/** The run's state: written only by the executor, from the run machine (run-machine.ts). */
	run: RunState = INITIAL_RUN;
	/** The executor's handle on the run's SESSION_TIMEOUT timer. */
	timer: Cancel | undefined;
	/** The executor's handles on the QUESTION_TIMEOUT timers of the run's open questions (by question id). */
	readonly questionTimers = new Map<string, Cancel>();

	private readonly notices = new Set<string>();
	/** Live output held back so the next pieces of the same stream join it (see `holdOutput`). */
	private heldOutput: LoggedEvent | undefined;

	constructor(
		readonly record: SessionRecord,
		readonly channel: EventChannel,
		readonly translator: RunTranslator,
		private readonly store: SessionStore,
	) {}

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
		this.record.updated_at = event.data.timestamp;
		if (event.event === "status" && event.data.progress !== undefined) this.record.progress = event.data.progress;
		return stored;
	}

	/** A run is starting: the record says so and the stream gets a `status` event. */
	begin(nowMs: number): void {
		const timestamp = isoTime(nowMs);
		this.record.status = "running";
		delete this.record.error;
		this.record.started_at ??= timestamp;
		this.record.ended_at = null;
		this.record.updated_at = timestamp;
		this.store.save(this.record);
		this.emit({ event: "status", data: { status: "running", timestamp } });
	}

	/** Says once per session that a parameter could not be applied as asked. */
	notice(message: string, nowMs: number): void {
		if (this.ended || this.notices.has(message)) return;
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
		const r = this.record;
		r.status = end.status;
		r.ended_at = timestamp;
		r.updated_at = timestamp;
		r.files_modified = [...new Set([...this.translator.filesModified, ...Object.keys(r.workspace_changes ?? {})])];
		r.usage = this.translator.usage;
		const progress = this.translator.progress;
		if (progress !== undefined) r.progress = progress;
		if (end.status === "cancelled") r.cancelled_at = timestamp;
		if (end.status === "completed") delete r.error;
		else r.error = { code: end.code, message: end.error };
		for (const e of terminalEvents(end, timestamp)) this.emit(e);
		r.last_event_id = this.channel.lastId;
		this.store.save(r);
		// What the translator kept of the run's engine messages is not needed after its terminal event.
		this.translator.runEnded();
		// The index goes beside the log and the descriptor is let go: a stored log costs nothing until read.
		this.channel.log.seal();
		return true;
	}
}
