import { isAbsolute, relative, sep } from "node:path";
import type { LoggedEvent, Usage } from "../events/catalogue";
import { isoTime } from "../lib/clock";
import { type EngineEvent, isObject, type Json, num, str } from "./events";
import { errorOutcome, type RunOutcome, retryError } from "./outcome";
import { translateTool } from "./tool-part";

export type { RunOutcome } from "./outcome";

export interface TranslateResult {
	readonly events: LoggedEvent[];
	readonly outcome?: RunOutcome;
}

export interface TranslatorOptions {
	/** Absolute workspace path, to make changed paths relative. */
	readonly workspaceDir: string;
	/** Scrubs secrets out of any text that came from outside (provider errors). */
	readonly redact: (text: string) => string;
	/** What earlier runs of this session already recorded (after a restart). */
	readonly initial?: {
		readonly files: readonly string[];
		readonly usage?: Usage;
	};
}

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
 * A run is bracketed by `beginRun()` (the prompt was sent) and the outcome the
 * translator returns once. Engine idles before the run has been seen busy,
 * and any after the outcome (the engine can report idle twice), are ignored.
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
	private running = false;
	private sawBusy = false;
	/** When the current (or last) run began, ms; its engine messages are the ones created since. */
	private runStart: number | undefined;
	/** This run was reconciled from the engine's state (see engine/reconcile.ts). */
	private reconciled = false;
	/** Assistant messages the engine has marked finished: completed, or with their error. */
	private readonly finished = new Map<string, { readonly error?: unknown }>();
	/** Todo items already announced as done (by content). */
	private readonly todosDone = new Set<string>();
	private progressValue: number | undefined;

	constructor(private readonly options: TranslatorOptions) {
		for (const f of options.initial?.files ?? []) this.files.add(f);
		if (options.initial?.usage) this.usageTotal = { ...options.initial.usage };
	}

	/** A prompt was just sent to the engine: the next busy→idle is this run's. */
	beginRun(nowMs?: number): void {
		this.running = true;
		this.sawBusy = false;
		this.reconciled = false;
		if (nowMs !== undefined) this.runStart = nowMs;
	}

	/** Takes up again a run set aside by `endRun` (a run interrupted by an engine recycle, being reconciled). */
	reopen(): void {
		this.running = true;
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

	/** The run was ended from outside (cancel, timeout): ignore the rest of it. */
	endRun(): void {
		this.running = false;
	}

	get inRun(): boolean {
		return this.running;
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

	translate(e: EngineEvent, nowMs: number): TranslateResult {
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
				if (type === "busy" && this.running) this.sawBusy = true;
				else if (type === "retry" && this.running)
					events.push(retryError(status, nowMs, timestamp, this.options.redact));
				else if (type === "idle") return { events, outcome: this.idle() };
				break;
			}
			case "session.idle":
				return { events, outcome: this.idle() };
			case "todo.updated":
				if (this.running) this.todos(p.todos, events, timestamp);
				break;
			case "session.error": {
				if (!this.running) break;
				this.running = false;
				return { events, outcome: errorOutcome(p.error, this.options.redact) };
			}
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

	private idle(): RunOutcome | undefined {
		if (!this.running || !this.sawBusy) return undefined;
		if (this.reconciled) {
			// After a reconciliation the idle may be one sent before the feed came back (the engine can report idle
			// before it stores the answer, and report it again after): only an idle after the answer is stored
			// ends the run, and as the answer ended, since its `session.error` may have been missed.
			const last = this.assistantMessages.at(-1);
			const end = last === undefined ? undefined : this.finished.get(last);
			if (last !== undefined && !end) return undefined;
			if (end?.error !== undefined) {
				this.running = false;
				return errorOutcome(end.error, this.options.redact);
			}
		}
		this.running = false;
		return { status: "completed" };
	}

	private noteMessage(info: Json): void {
		const id = str(info.id);
		const role = str(info.role);
		if (!id || !role) return;
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
		if (!id || !messageID || !kind) return;
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
