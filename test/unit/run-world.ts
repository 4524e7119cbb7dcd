import fc from "fast-check";
import { EMPTY_USAGE } from "../../src/engine/translate";
import type { ErrorCode, LoggedEvent } from "../../src/events/catalogue";
import { type RunEnd, terminalEvents } from "../../src/sessions/lifecycle";
import type { Question } from "../../src/sessions/questions";
import {
	INITIAL_RUN,
	type RunEffect,
	type RunInput,
	type RunSettings,
	type RunState,
} from "../../src/sessions/run-effects";
import { runTransition } from "../../src/sessions/run-machine";

/**
 * The world around one session's run machine, for the property tests (run-machine*.test.ts):
 * random schedules of every input the machine takes, a model executor and a model of the
 * manager's rules. A failure prints fast-check's seed and path; `RUN_MACHINE_SEED=<seed>` replays it.
 */
export const RUNS = Number(process.env.RUN_MACHINE_RUNS ?? 2000);
const SEED = process.env.RUN_MACHINE_SEED === undefined ? undefined : Number(process.env.RUN_MACHINE_SEED);

export function params(examples: [Scenario][]) {
	return { numRuns: RUNS, examples, ...(SEED === undefined ? {} : { seed: SEED }) };
}

export type Command =
	| { readonly c: "message"; readonly prompt: string }
	| { readonly c: "settle"; readonly pick: number; readonly how: "ok" | "wentAway" | "refused" }
	/** The engine's reports, as the translator gives them. */
	| { readonly c: "busy" }
	| { readonly c: "idle"; readonly unsettled: boolean; readonly failed: boolean }
	| { readonly c: "engineError"; readonly how: "failed" | "aborted" }
	/** The engine completes the run: busy, then idle. */
	| { readonly c: "engineCompleted" }
	/** The workspace scan of a completed run ends. */
	| { readonly c: "scanned" }
	/** A reconciliation of a run set aside reads what the engine did. */
	| { readonly c: "reopen" }
	| { readonly c: "setAside" }
	| { readonly c: "retry"; readonly code: ErrorCode }
	| { readonly c: "upstream"; readonly status: number }
	| { readonly c: "stalled" }
	| { readonly c: "engineLost" }
	| { readonly c: "engineReady" }
	| { readonly c: "keyFetched" }
	| { readonly c: "keyLost" }
	| { readonly c: "cancel" }
	| { readonly c: "advance"; readonly ms: number }
	| { readonly c: "prune" }
	| { readonly c: "shutdown" }
	/** The agent asks a permission (ids repeat: a reconciliation announces a request again). */
	| { readonly c: "permission"; readonly id: string; readonly permission: string; readonly path: string }
	| { readonly c: "question"; readonly id: string }
	/** A client answers a question (one asked, or not): fitting answers, or empty ones. */
	| { readonly c: "answer"; readonly id: string; readonly fits: boolean };

const requestId = (prefix: string) => fc.constantFrom(`${prefix}1`, `${prefix}2`, `${prefix}3`);

/** Every command; `requests` weighs the agent's permissions and questions and the clients' answers. */
export const commandWith = (requests: number): fc.Arbitrary<Command> =>
	fc.oneof(
		{ arbitrary: fc.constantFrom("a", "b", "c").map((prompt) => ({ c: "message", prompt }) as const), weight: 3 },
		{
			arbitrary: fc.record({
				c: fc.constant("settle" as const),
				pick: fc.nat(5),
				how: fc.constantFrom("ok" as const, "ok" as const, "wentAway" as const, "refused" as const),
			}),
			weight: 4,
		},
		{ arbitrary: fc.constant({ c: "engineCompleted" } as const), weight: 2 },
		{ arbitrary: fc.constant({ c: "busy" } as const), weight: 1 },
		{
			arbitrary: fc.record({ c: fc.constant("idle" as const), unsettled: fc.boolean(), failed: fc.boolean() }),
			weight: 1,
		},
		{
			arbitrary: fc
				.constantFrom("failed" as const, "aborted" as const)
				.map((how) => ({ c: "engineError", how }) as const),
			weight: 1,
		},
		{ arbitrary: fc.constant({ c: "scanned" } as const), weight: 2 },
		{ arbitrary: fc.constantFrom({ c: "reopen" } as const, { c: "setAside" } as const), weight: 1 },
		{
			arbitrary: fc
				.constantFrom<ErrorCode>("provider_error", "provider_rate_limited")
				.map((code) => ({ c: "retry", code }) as const),
			weight: 1,
		},
		{ arbitrary: fc.constantFrom(200, 401, 429, 500).map((status) => ({ c: "upstream", status }) as const), weight: 1 },
		{ arbitrary: fc.constant({ c: "stalled" } as const), weight: 1 },
		{ arbitrary: fc.constant({ c: "engineLost" } as const), weight: 2 },
		{ arbitrary: fc.constant({ c: "engineReady" } as const), weight: 2 },
		{ arbitrary: fc.constant({ c: "keyFetched" } as const), weight: 1 },
		{ arbitrary: fc.constant({ c: "keyLost" } as const), weight: 1 },
		{ arbitrary: fc.constant({ c: "cancel" } as const), weight: 1 },
		{ arbitrary: fc.integer({ min: 1, max: 4000 }).map((ms) => ({ c: "advance", ms }) as const), weight: 3 },
		{ arbitrary: fc.constant({ c: "prune" } as const), weight: 1 },
		{ arbitrary: fc.constant({ c: "shutdown" } as const), weight: 1 },
		{
			arbitrary: fc.record({
				c: fc.constant("permission" as const),
				id: requestId("per_"),
				permission: fc.constantFrom("edit", "bash", "external_directory", "doom_loop"),
				path: fc.constantFrom("/workspace/a.txt", "/etc/passwd"),
			}),
			weight: 2 * requests,
		},
		{ arbitrary: requestId("que_").map((id) => ({ c: "question", id }) as const), weight: 2 * requests },
		{
			arbitrary: fc.record({ c: fc.constant("answer" as const), id: requestId("que_"), fits: fc.boolean() }),
			weight: 3 * requests,
		},
	);

export interface Scenario {
	readonly settings: RunSettings;
	/** The session was loaded after a sidecar restart in the middle of a run (with or without CREDENTIALS_URL). */
	readonly restarted?: { readonly fetching: boolean };
	readonly commands: readonly Command[];
}

export const settings = (
	s: Pick<RunSettings, "sessionTimeoutMs" | "maxRetries" | "resumeInterrupted">,
): RunSettings => ({
	...s,
	questionTimeoutMs: 1000,
	permissionPolicy: "workspace",
	workspaceDir: "/workspace",
});

/** Schedules of every input; `requests` as in `commandWith`. */
export const scenarioWith = (requests: number): fc.Arbitrary<Scenario> =>
	fc.record(
		{
			settings: fc.record({
				sessionTimeoutMs: fc.integer({ min: 500, max: 5000 }),
				maxRetries: fc.nat(3),
				resumeInterrupted: fc.boolean(),
				questionTimeoutMs: fc.integer({ min: 200, max: 6000 }),
				permissionPolicy: fc.constantFrom("workspace" as const, "allow" as const, "reject" as const),
				workspaceDir: fc.constant("/workspace"),
			}),
			restarted: fc.record({ fetching: fc.boolean() }),
			commands: fc.array(commandWith(requests), { minLength: 0, maxLength: 40, size: "max" }),
		},
		{ requiredKeys: ["settings", "commands"] },
	);
export const scenario = scenarioWith(1);

/** The questions every `question` command asks: the second option is the recommended one. */
export const QUESTIONS: Question[] = [
	{
		question: "Which colour?",
		options: [{ label: "red" }, { label: "blue", description: "cool (Recommended)" }],
		multiple: false,
	},
];
export const RECOMMENDED = [["blue"]];

export interface Stored {
	readonly id: number;
	readonly event: LoggedEvent;
	/** The run as the stream shows it (a resumed run goes on). */
	readonly run: number;
	readonly at: number;
}

/** One step of the world: the input given, the effects the machine answered, the time. */
export interface Step {
	readonly input: RunInput;
	readonly effects: readonly RunEffect[];
	readonly at: number;
	readonly before: RunState;
	readonly after: RunState;
	/** The run as the stream shows it, and whether it was open, before the step. */
	readonly streamRun: number;
	readonly streamOpen: boolean;
}

/**
 * The world around one session's machine: a model executor (stores events with ids, holds the
 * key, keeps the timers in virtual time, hands launches to a pretend engine whose answers the
 * schedule picks, reads the workspace of a completed run) and a model of the manager's rules
 * (which messages start a run, which end a session for good).
 */
export class World {
	state: RunState = INITIAL_RUN;
	now = 0;
	readonly log: Stored[] = [];
	readonly steps: Step[] = [];
	/** Launch effects the pretend engine has not answered yet. */
	readonly pending: { run: number }[] = [];
	/** Armed timers, by name (`session`, or a question id), with their deadlines. */
	readonly timers = new Map<string, number>();
	/** Completed runs whose workspace is being read (`finish` effects). */
	readonly scans: number[] = [];
	/** The last run the engine completed (its workspace read: SESSION_TIMEOUT no longer applies). */
	finished: number | undefined;
	/** The run as the stream shows it: counted from the `begin` effects. */
	currentRun = 0;
	/** A run has begun and not ended, as the stream shows it. */
	open = false;
	keyHeld = false;
	pruned = false;
	lastEnd: RunEnd | undefined;
	readonly violations: string[] = [];
	/** Run number → virtual time the engine took its prompt. */
	readonly takenAt = new Map<number, number>();
	/** Question id → virtual time it was last asked (its `question` event stored). */
	readonly askedAt = new Map<string, number>();
	/** Steps after which the armed question timers were not exactly those of the open questions. */
	readonly timerMismatches: string[] = [];

	constructor(readonly settings: RunSettings) {}

	dispatch(input: RunInput): readonly RunEffect[] {
		if (input.type === "start") this.keyHeld = true;
		if (input.type === "keyFetched" && this.state.phase === "awaiting" && !this.state.closed) this.keyHeld = true;
		const before = this.state;
		const streamRun = this.currentRun;
		const streamOpen = this.open;
		const { state, effects } = runTransition(this.state, input, this.settings, this.now);
		this.state = state;
		this.steps.push({ input, effects, at: this.now, before, after: state, streamRun, streamOpen });
		for (const e of effects) this.apply(e);
		const armed = [...this.timers.keys()].filter((k) => k !== "session").sort();
		const open = state.questions.map((q) => q.id).sort();
		if (armed.join() !== open.join()) this.timerMismatches.push(`${input.type}: armed [${armed}], open [${open}]`);
		return effects;
	}

	private store(event: LoggedEvent): void {
		this.log.push({ id: this.log.length + 1, event, run: this.currentRun, at: this.now });
	}

	private apply(e: RunEffect): void {
		switch (e.type) {
			case "begin":
				// A resumed run goes on (a second `status: running`); a run after an end is a new one.
				if (!this.open) this.currentRun++;
				this.open = true;
				this.store({ event: "status", data: { status: "running", timestamp: "t" } });
				return;
			case "launch":
				this.pending.push({ run: e.run });
				return;
			case "store":
				if (e.event.event === "question") this.askedAt.set(e.event.data.question_id, this.now);
				this.store(e.event);
				return;
			case "armTimer":
				this.timers.set("session", this.now + e.ms);
				return;
			case "cancelTimer":
				this.timers.delete("session");
				return;
			case "armQuestionTimer":
				this.timers.set(e.id, this.now + e.ms);
				return;
			case "cancelQuestionTimer":
				this.timers.delete(e.id);
				return;
			case "end":
				this.lastEnd = e.end;
				this.open = false;
				for (const t of terminalEvents(e.end, "t")) this.store(t);
				return;
			case "dropKey":
				this.keyHeld = false;
				return;
			case "finish":
				this.finished = e.run;
				this.scans.push(e.run);
				return;
			case "abort":
			case "replyPermission":
			case "replyQuestion":
			case "refuseAnswer":
				return;
		}
	}

	/** The manager's rule for a message: queued during a run, a new run after a completed one, refused otherwise. */
	message(prompt: string): void {
		if (this.pruned) return;
		if (this.state.phase !== "idle") {
			this.dispatch({ type: "followUp", prompt });
			return;
		}
		const end = this.lastEnd;
		const continuable =
			end === undefined || end.status === "completed" || (end.status === "failed" && end.code === "interrupted");
		if (continuable && !this.state.closed) this.dispatch({ type: "start", prompt });
	}

	run(command: Command): void {
		switch (command.c) {
			case "message":
				this.message(command.prompt);
				return;
			case "settle": {
				const i = command.pick % Math.max(1, this.pending.length);
				const [p] = this.pending.splice(i, 1);
				if (!p) return;
				if (command.how === "ok") {
					if (this.state.phase === "launching" && p.run === this.state.run) this.takenAt.set(p.run, this.now);
					this.dispatch({ type: "launched", run: p.run });
				} else {
					this.dispatch({ type: "launchFailed", run: p.run, wentAway: command.how === "wentAway", reason: "gone" });
				}
				return;
			}
			case "busy":
				this.dispatch({ type: "engineBusy" });
				return;
			case "idle":
				this.dispatch({
					type: "engineIdle",
					...(command.unsettled ? { unsettled: true } : {}),
					...(command.failed ? { error: { status: "failed", code: "provider_error", error: "x" } } : {}),
				});
				return;
			case "engineCompleted":
				this.dispatch({ type: "engineBusy" });
				this.dispatch({ type: "engineIdle" });
				return;
			case "engineError":
				this.dispatch({
					type: "engineError",
					outcome:
						command.how === "aborted"
							? { status: "aborted" }
							: { status: "failed", code: "provider_error", error: "x" },
				});
				return;
			case "scanned": {
				const run = this.scans.shift();
				if (run === undefined) return;
				const end: RunEnd = { status: "completed", finalMessage: "", filesModified: [], usage: EMPTY_USAGE };
				this.dispatch({ type: "engineEnded", run, end });
				return;
			}
			case "reopen":
				this.dispatch({ type: "reopen" });
				return;
			case "setAside":
				this.dispatch({ type: "setAside" });
				return;
			case "retry":
				this.dispatch({ type: "retry", code: command.code, error: "retrying" });
				return;
			case "upstream":
				this.dispatch({ type: "upstream", status: command.status });
				return;
			case "stalled":
				this.dispatch({ type: "stalled", message: "stalled" });
				return;
			case "engineLost":
				this.dispatch({ type: "engineLost", reason: "engine exited" });
				return;
			case "engineReady":
				this.dispatch({ type: "engineReady" });
				return;
			case "keyFetched":
				this.dispatch({ type: "keyFetched", engineReady: true });
				return;
			case "keyLost":
				this.dispatch({ type: "keyLost", error: "the credentials endpoint answered HTTP 404" });
				return;
			case "cancel":
				if (!this.pruned) this.dispatch({ type: "cancel" });
				return;
			case "advance":
				this.advance(command.ms);
				return;
			case "prune":
				// The manager prunes ended sessions only.
				if (this.state.phase === "idle" && this.lastEnd !== undefined && !this.pruned) {
					this.pruned = true;
					this.dispatch({ type: "prune" });
				}
				return;
			case "shutdown":
				this.dispatch({ type: "shutdown" });
				return;
			case "permission":
				this.dispatch({
					type: "permissionAsked",
					ask: { id: command.id, permission: command.permission, patterns: [command.path], paths: [command.path] },
				});
				return;
			case "question":
				this.dispatch({ type: "questionAsked", id: command.id, questions: QUESTIONS });
				return;
			case "answer":
				this.dispatch({ type: "questionAnswered", id: command.id, answers: command.fits ? [["red"]] : [[]] });
				return;
		}
	}

	/** Virtual time passes; each timer fires when its deadline comes, earliest first. */
	advance(ms: number): void {
		const target = this.now + ms;
		for (;;) {
			let next: [string, number] | undefined;
			for (const t of this.timers) if (t[1] <= target && (next === undefined || t[1] < next[1])) next = t;
			if (!next) break;
			const [name, deadline] = next;
			this.now = deadline;
			this.timers.delete(name);
			this.dispatch(
				name === "session" ? { type: "timeout", run: this.state.run } : { type: "questionTimedOut", id: name },
			);
		}
		this.now = target;
		this.checkDeadlines();
	}

	checkDeadlines(): void {
		for (const q of this.state.questions) {
			const asked = this.askedAt.get(q.id) ?? Number.NaN;
			if (!(this.now <= asked + this.settings.questionTimeoutMs)) {
				this.violations.push(`question ${q.id} asked at ${asked} still open at ${this.now}`);
			}
		}
		const taken = this.takenAt.get(this.state.run);
		// Once the sidecar stops, runs stay as they are (the next process takes them up).
		if (this.state.closed || this.finished === this.state.run) return;
		if (this.state.phase !== "idle" && taken !== undefined && this.now > taken + this.settings.sessionTimeoutMs) {
			this.violations.push(`run ${this.state.run} taken at ${taken} still ${this.state.phase} at ${this.now}`);
		}
	}

	/** The world settles: the engine comes back, answers every launch, workspace scans end, and time runs out. */
	drain(): void {
		for (let i = 0; i < 20 && this.state.phase !== "idle" && !this.state.closed; i++) {
			this.dispatch({ type: "engineReady" });
			// CREDENTIALS_URL answers within CREDENTIALS_TIMEOUT.
			if (this.state.phase === "awaiting" && !this.state.key) this.dispatch({ type: "keyFetched", engineReady: true });
			while (this.pending.length > 0) this.run({ c: "settle", pick: 0, how: "ok" });
			while (this.scans.length > 0) this.run({ c: "scanned" });
			this.advance(Math.max(this.settings.sessionTimeoutMs, this.settings.questionTimeoutMs) + 1);
		}
	}
}

export function play(s: Scenario, drain = true): World {
	const w = new World(s.settings);
	if (s.restarted) {
		// A stored session that was running when the previous process stopped.
		w.lastEnd = undefined;
		w.dispatch({ type: "start", prompt: "first" });
		w.keyHeld = false;
		w.state = { ...w.state, key: false, phase: "running", listening: false };
		w.pending.length = 0;
		w.dispatch({ type: "restarted", fetching: s.restarted.fetching });
	}
	for (const c of s.commands) w.run(c);
	if (drain) w.drain();
	return w;
}

export const isTerminal = (e: LoggedEvent) => e.event === "complete" || (e.event === "error" && e.data.fatal);
