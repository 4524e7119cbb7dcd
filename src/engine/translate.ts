import { isAbsolute, relative, sep } from "node:path";
import type { LoggedEvent, Usage } from "../events/catalogue";
import { isoTime } from "../lib/clock";
import { type EngineEvent, isObject, type Json, num, str } from "./events";
import { errorOutcome, retryError } from "./outcome";
import { translateTool } from "./tool-part";
import type { EngineSignal, RunCarry, TranslateResult, TranslatorOptions } from "./translate-types";

export type { FailedOutcome, RunOutcome } from "./outcome";
export type { EngineSignal, RunCarry, TranslateResult, TranslatorOptions } from "./translate-types";

interface PartState {
	readonly messageID: string;
	readonly kind: string;
	/** Characters of text (or live tool output) already emitted. */
	emitted: number;
	text: string;
	callAnnounced: boolean;
	resultAnnounced: boolean;
	/**
	 * Set by a reconciliation snapshot of the part: the deltas that follow may
	 * repeat what the snapshot held, so they are skipped, and the part's next
	 * full update brings the rest.
	 */
	resync: boolean;
}

/** What the translator already emitted for one part (see engine/reconcile.ts). */
export interface PartProgress {
	readonly emitted: number;
	readonly callAnnounced: boolean;
	readonly resultAnnounced: boolean;
}

const NONE: readonly string[] = Object.freeze([]);
/** The set as an array; empty ones share one (an ended session holds its carry for as long as it is stored). */
const listOf = (set: ReadonlySet<string>): readonly string[] => (set.size === 0 ? NONE : [...set]);

export const EMPTY_USAGE: Usage = {
	input_tokens: 0,
	output_tokens: 0,
	reasoning_tokens: 0,
	cache_read_tokens: 0,
	cache_write_tokens: 0,
	cost: 0,
};

/**
 * Turns one engine session's `/event` stream into contract events. Pure: it
 * keeps state between calls but does no I/O; time comes in as an argument.
 *
 * Whether a run is in progress, and whether an engine idle ends it, is the run
 * machine's to decide (sessions/run-machine.ts): the translator reports the
 * engine's busy, idle and errors as signals, and is told whether a run is in
 * progress (its todo list counts only then).
 */
export class RunTranslator {
	private readonly roles = new Map<string, string>();
	private readonly parts = new Map<string, PartState>();
	/** Assistant message ids in order of appearance. */
	private readonly assistantMessages: string[] = [];
	private readonly files = new Set<string>();
	private readonly countedSteps = new Set<string>();
	/** Assistant messages (steps) in which a broad tool ran. */
	private readonly broadSteps = new Set<string>();
	private usageTotal: Usage = { ...EMPTY_USAGE };
	/** When the current (or last) run began, ms; its engine messages are the ones created since. */
	private runStart: number | undefined;
	/** This run was reconciled from the engine's state (see engine/reconcile.ts). */
	private reconciled = false;
	/** Assistant messages the engine has marked finished: completed, or with their error. */
	private readonly finished = new Map<string, { readonly error?: unknown }>();
	/** Todo items already announced as done (by content). */
	private readonly todosDone = new Set<string>();
	private progressValue: number | undefined;
	/**
	 * Engine messages of ended runs: their events are ignored, and what was kept of them (each
	 * part's text and counters) is let go, so that an ended session, stored for as long as
	 * MAX_STORED_SESSIONS allows, holds only their ids (issue 13).
	 */
	private readonly closed = new Set<string>();

	constructor(private readonly options: TranslatorOptions) {
		const initial = options.initial;
		for (const f of initial?.files ?? []) this.files.add(f);
		if (initial?.usage) this.usageTotal = { ...initial.usage };
		for (const id of initial?.closed ?? []) this.closed.add(id);
		for (const t of initial?.todosDone ?? []) this.todosDone.add(t);
		this.progressValue = initial?.progress;
	}

	/** A prompt is being sent to the engine (`nowMs`: a new run; without it, the run's prompt again). */
	beginRun(nowMs?: number): void {
		this.reconciled = false;
		if (nowMs !== undefined) this.runStart = nowMs;
	}

	/**
	 * The run ended (its terminal event is stored). Nothing of it is emitted any more (a follow-up
	 * is a new run, with new engine messages), so its messages' state goes: their events are ignored
	 * from now on, including an update the engine makes to an old part (e.g. when it compacts tool
	 * output), which would otherwise be announced again.
	 */
	runEnded(): void {
		for (const id of this.roles.keys()) this.closed.add(id);
		for (const part of this.parts.values()) this.closed.add(part.messageID);
		this.roles.clear();
		this.parts.clear();
		this.assistantMessages.length = 0;
		this.finished.clear();
		this.countedSteps.clear();
		this.broadSteps.clear();
	}

	/** What the next run's translator starts from (after `runEnded`: nothing of the ended run's messages but their ids). */
	carry(): RunCarry {
		return {
			files: listOf(this.files),
			closed: listOf(this.closed),
			todosDone: listOf(this.todosDone),
			...(this.progressValue === undefined ? {} : { progress: this.progressValue }),
		};
	}

	/** When the current run began (ms), if known. */
	get runStartedAt(): number | undefined {
		return this.runStart;
	}

	/** What was already emitted for a part; undefined for a part never seen. */
	progressOf(partId: string): PartProgress | undefined {
		const p = this.parts.get(partId);
		return p && { emitted: p.emitted, callAnnounced: p.callAnnounced, resultAnnounced: p.resultAnnounced };
	}

	/** Share of the agent's todo items completed, 0-100; undefined until it keeps a list. */
	get progress(): number | undefined {
		return this.progressValue;
	}

	get usage(): Usage {
		return { ...this.usageTotal };
	}

	/** Workspace-relative paths changed so far, in order of first change. */
	get filesModified(): string[] {
		return [...this.files];
	}

	/** Text of the newest assistant message that has any. */
	get finalMessage(): string {
		for (let i = this.assistantMessages.length - 1; i >= 0; i--) {
			const id = this.assistantMessages[i];
			let text = "";
			for (const part of this.parts.values()) if (part.messageID === id && part.kind === "text") text += part.text;
			if (text.trim() !== "") return text;
		}
		return "";
	}

	/** One engine event of the session; `inRun`: the run machine counts the engine's reports for a run. */
	translate(e: EngineEvent, nowMs: number, inRun: boolean): TranslateResult {
		const timestamp = isoTime(nowMs);
		const events: LoggedEvent[] = [];
		const p = e.properties;
		if (p.snapshot === true) this.reconciled = true;
		switch (e.type) {
			case "message.updated": {
				const info = p.info;
				if (isObject(info)) this.noteMessage(info);
				break;
			}
			case "message.part.delta": {
				const part = this.parts.get(str(p.partID) ?? "");
				const delta = str(p.delta);
				if (!part || !delta || str(p.field) !== "text" || this.roles.get(part.messageID) === "user") break;
				if (part.resync) break;
				if (part.kind !== "text" && part.kind !== "reasoning") break;
				part.text += delta;
				part.emitted += delta.length;
				events.push(this.outputOf(part, delta, timestamp));
				break;
			}
			case "message.part.removed": {
				// A retried step drops its partial text: it no longer counts for the final message.
				const part = this.parts.get(str(p.partID) ?? "");
				if (part) part.text = "";
				break;
			}
			case "message.removed": {
				const id = str(p.messageID);
				if (id) for (const part of this.parts.values()) if (part.messageID === id) part.text = "";
				break;
			}
			case "message.part.updated": {
				if (isObject(p.part)) this.part(p.part, events, timestamp, p.snapshot === true);
				break;
			}
			case "session.status": {
				const status = isObject(p.status) ? p.status : {};
				const type = str(status.type);
				if (type === "busy") return { events, signal: { type: "busy" } };
				if (type === "retry" && inRun) events.push(retryError(status, nowMs, timestamp, this.options.redact));
				else if (type === "idle") return { events, signal: this.idle() };
				break;
			}
			case "session.idle":
				return { events, signal: this.idle() };
			case "todo.updated":
				if (inRun) this.todos(p.todos, events, timestamp);
				break;
			case "session.error":
				return { events, signal: { type: "error", outcome: errorOutcome(p.error, this.options.redact) } };
		}
		return { events };
	}

	private todos(list: unknown, events: LoggedEvent[], timestamp: string): void {
		const todos = (Array.isArray(list) ? list : []).filter(isObject);
		if (todos.length === 0) return;
		const done = todos.filter((t) => str(t.status) === "completed");
		for (const t of done) {
			const content = str(t.content) ?? "";
			if (this.todosDone.has(content)) continue;
			this.todosDone.add(content);
			events.push({
				event: "output",
				data: {
					type: "stdout",
					text: `Done: ${content} (${done.length}/${todos.length})\n`,
					source: "sidecar",
					timestamp,
				},
			});
		}
		const progress = Math.round((100 * done.length) / todos.length);
		if (progress === this.progressValue) return;
		this.progressValue = progress;
		events.push({
			event: "status",
			data: {
				status: "running",
				progress,
				message: `${done.length} of ${todos.length} tasks done`,
				timestamp,
			},
		});
	}

	private idle(): EngineSignal {
		if (!this.reconciled) return { type: "idle" };
		// After a reconciliation only an idle after the answer is stored counts, and as the answer ended,
		// since its `session.error` may have been missed.
		const last = this.assistantMessages.at(-1);
		const end = last === undefined ? undefined : this.finished.get(last);
		if (last !== undefined && !end) return { type: "idle", unsettled: true };
		if (end?.error !== undefined) return { type: "idle", error: errorOutcome(end.error, this.options.redact) };
		return { type: "idle" };
	}

	private noteMessage(info: Json): void {
		const id = str(info.id);
		const role = str(info.role);
		if (!id || !role || this.closed.has(id)) return;
		if (!this.roles.has(id) && role === "assistant") this.assistantMessages.push(id);
		const time = isObject(info.time) ? info.time : {};
		if (role === "assistant" && (time.completed !== undefined || isObject(info.error))) {
			this.finished.set(id, isObject(info.error) ? { error: info.error } : {});
		}
		this.roles.set(id, role);
	}

	private part(part: Json, events: LoggedEvent[], timestamp: string, snapshot: boolean): void {
		const id = str(part.id);
		const messageID = str(part.messageID);
		const kind = str(part.type);
		if (!id || !messageID || !kind || this.closed.has(messageID)) return;
		let state = this.parts.get(id);
		if (!state) {
			state = {
				messageID,
				kind,
				emitted: 0,
				text: "",
				callAnnounced: false,
				resultAnnounced: false,
				resync: false,
			};
			this.parts.set(id, state);
		}
		if (this.roles.get(messageID) === "user" || part.synthetic === true) return;
		switch (kind) {
			case "text":
			case "reasoning": {
				const text = str(part.text) ?? "";
				// After a snapshot, updates and deltas the engine sent before it may still arrive (held while the
				// snapshot was read): deltas are skipped and an update shorter than what was emitted changes nothing,
				// until an update at least as long as what was emitted brings the text up to date.
				if (snapshot) state.resync = true;
				else if (state.resync && text.length >= state.emitted) state.resync = false;
				if (state.resync && text.length < state.emitted) break;
				state.text = text;
				// Deltas normally carried it all; emit whatever they missed.
				if (text.length > state.emitted) {
					const rest = text.slice(state.emitted);
					state.emitted = text.length;
					events.push(this.outputOf(state, rest, timestamp));
				}
				break;
			}
			case "tool":
				translateTool(part, state, events, timestamp, {
					broad: (id) => this.broadSteps.add(id),
					noteFile: (path) => this.noteFile(path),
					redact: this.options.redact,
				});
				break;
			case "patch": {
				if (!this.broadSteps.has(messageID)) break;
				const files = Array.isArray(part.files) ? part.files : [];
				for (const f of files) if (typeof f === "string") this.noteFile(f);
				break;
			}
			case "step-finish":
				if (!this.countedSteps.has(id)) {
					this.countedSteps.add(id);
					this.addUsage(part);
				}
				break;
		}
	}

	private outputOf(part: PartState, text: string, timestamp: string): LoggedEvent {
		return {
			event: "output",
			data: {
				type: "stdout",
				text,
				source: part.kind === "reasoning" ? "reasoning" : "assistant",
				timestamp,
			},
		};
	}

	private noteFile(path: string): void {
		const rel = isAbsolute(path) ? relative(this.options.workspaceDir, path) : path.replace(/^\.\//, "");
		if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return;
		this.files.add(rel);
	}

	private addUsage(part: Json): void {
		const tokens = isObject(part.tokens) ? part.tokens : {};
		const cache = isObject(tokens.cache) ? tokens.cache : {};
		const u = this.usageTotal;
		this.usageTotal = {
			input_tokens: u.input_tokens + (num(tokens.input) ?? 0),
			output_tokens: u.output_tokens + (num(tokens.output) ?? 0),
			reasoning_tokens: u.reasoning_tokens + (num(tokens.reasoning) ?? 0),
			cache_read_tokens: u.cache_read_tokens + (num(cache.read) ?? 0),
			cache_write_tokens: u.cache_write_tokens + (num(cache.write) ?? 0),
			cost: u.cost + (num(part.cost) ?? 0),
		};
	}
}
