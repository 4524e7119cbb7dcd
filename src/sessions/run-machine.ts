import { isoTime } from "../lib/clock";
import { endFromError, endFromRetries, endFromStall, retryCode } from "./failure";
import type { RunEnd } from "./lifecycle";
import type { RunEffect, RunInput, RunSettings, RunState, RunTransition } from "./run-effects";
import { answerQuestion, askPermission, askQuestion, dropQuestions } from "./run-requests";

/** The prompt of a run resumed after the engine (or the sidecar) went away under it. */
export const RESUME_PROMPT =
	"The previous run was interrupted by a restart of the engine. Continue the task from where you stopped; do not redo finished steps.";

const RESTART = "the sidecar restarted while the run was in progress";

/**
 * A session's run as a pure state machine: `(state, input) → {state, effects}`. No I/O, no
 * clock: time comes in as `nowMs`, and everything to do comes out as effects, which one small
 * executor (executor.ts) applies after this returns.
 *
 * The key rule: a session's key is held from the moment a run starts with it (or CREDENTIALS_URL
 * gives it back after a restart) while runs go on and after a completed run (a follow-up may
 * continue the session); it is dropped when a run ends any other way (failed, cancelled, timeout)
 * and when the session is pruned.
 *
 * The engine's reports (busy, idle, errors, retries) count from a run's start until it ends or is
 * set aside (`listening`); an idle ends the run once the engine was seen busy in it.
 */
export function runTransition(state: RunState, input: RunInput, settings: RunSettings, nowMs: number): RunTransition {
	// The engine took a prompt after its run ended (a cancel, even one before a shutdown): abort it.
	if (input.type === "launched" && input.run === state.run && state.phase === "idle") {
		return { state, effects: [{ type: "abort" }] };
	}
	// Pruning forgets the key whatever else is true.
	if (input.type === "prune" && state.phase === "idle") {
		return { state: { ...state, key: false }, effects: state.key ? [{ type: "dropKey" }] : [] };
	}
	if (state.closed) return { state, effects: [] };
	const live = state.phase !== "idle";
	const timestamp = isoTime(nowMs);
	switch (input.type) {
		case "start":
			if (live) return followUp(state, input.prompt);
			return begin({ ...state, key: true, queue: [] }, input.prompt, []);
		case "followUp":
			return live ? followUp(state, input.prompt) : { state, effects: [] };
		case "launched": {
			if (input.run !== state.run || state.phase !== "launching") return { state, effects: [] };
			const { prompt: _taken, ...rest } = state;
			return {
				state: { ...rest, phase: "running", timer: true },
				effects: [...(state.timer ? [{ type: "cancelTimer" } as const] : []), arm(state.run, settings)],
			};
		}
		case "launchFailed":
			if (input.run !== state.run || state.phase !== "launching") return { state, effects: [] };
			if (input.wentAway) return interrupt(state, input.reason, settings, timestamp);
			return end(
				state,
				{ status: "failed", code: "engine_unavailable", error: "the engine did not accept the run" },
				timestamp,
			);
		case "engineBusy":
			return state.listening ? { state: { ...state, busy: true }, effects: [] } : same(state);
		case "engineIdle":
			// Idles before the run was seen busy belong to the engine's previous work; once the run ended, repeats.
			if (!state.listening || !state.busy || input.unsettled) return same(state);
			return input.error ? end(state, endFromError(input.error), timestamp) : finish(state);
		case "engineError":
			return state.listening ? end(state, endFromError(input.outcome), timestamp) : same(state);
		case "engineEnded":
			return live && input.run === state.run ? end(state, input.end, timestamp) : same(state);
		case "reopen":
			// A run the engine already completed (being read from the workspace) is not taken up again.
			if (state.phase !== "awaiting" || state.finishing) return same(state);
			return { state: { ...state, listening: true }, effects: [] };
		case "setAside":
			return state.phase === "awaiting" ? { state: { ...state, listening: false }, effects: [] } : same(state);
		case "retry":
			return state.listening ? retry(state, input, settings, timestamp) : same(state);
		// Only the engine that has the run asks: a request while it waits for its engine belongs to the one that went away.
		case "permissionAsked":
			return engaged(state) ? askPermission(state, input.ask, settings, nowMs) : same(state);
		case "questionAsked":
			return engaged(state) ? askQuestion(state, input.id, input.questions, settings, nowMs) : same(state);
		case "questionAnswered":
			return answerQuestion(state, input.id, input.answers, settings, nowMs);
		case "questionTimedOut":
			return answerQuestion(state, input.id, undefined, settings, nowMs);
		case "upstream":
			return { state: { ...state, signals: { lastStatus: input.status } }, effects: [] };
		case "stalled":
			return live ? end(state, endFromStall(input.message), timestamp, true) : same(state);
		case "engineLost":
			// A run the engine completed is only being read from the workspace: it no longer needs the engine.
			if ((state.phase !== "launching" && state.phase !== "running") || state.finishing) return same(state);
			return interrupt(state, input.reason, settings, timestamp);
		case "engineReady":
			return state.phase === "awaiting" && state.key && !state.finishing ? resume(state) : same(state);
		case "restarted":
			if (!input.fetching) {
				return end(
					{ ...state, phase: "awaiting" },
					interrupted(`${RESTART}; its API key was not kept, so the run cannot resume`),
					timestamp,
				);
			}
			return {
				state: { ...state, phase: "awaiting", key: false },
				effects: [notice(`${RESTART}; it resumes with its key from CREDENTIALS_URL`, timestamp)],
			};
		case "keyFetched":
			if (state.phase !== "awaiting") return same(state);
			return input.engineReady && !state.finishing
				? resume({ ...state, key: true })
				: { state: { ...state, key: true }, effects: [] };
		case "keyLost":
			if (!live) return same(state);
			return end(state, interrupted(input.error), timestamp, state.phase === "launching" || state.phase === "running");
		case "cancel":
			return live
				? end(state, { status: "cancelled", code: "cancelled", error: "cancelled by request" }, timestamp, true)
				: same(state);
		case "timeout": {
			if (!live || !state.timer) return same(state);
			const seconds = settings.sessionTimeoutMs / 1000;
			return end(
				state,
				{ status: "timeout", code: "timeout", error: `run exceeded SESSION_TIMEOUT (${seconds}s)` },
				timestamp,
				true,
			);
		}
		case "prune":
			return same(state);
		case "shutdown": {
			const dropped = dropQuestions(state);
			return {
				state: { ...dropped.state, closed: true, timer: false },
				effects: [...(state.timer ? [{ type: "cancelTimer" } as const] : []), ...dropped.effects],
			};
		}
	}
}

/** The engine has the run's prompt, or is being given it. */
const engaged = (state: RunState): boolean => state.phase === "launching" || state.phase === "running";

function same(state: RunState): RunTransition {
	return { state, effects: [] };
}

const arm = (run: number, settings: RunSettings): RunEffect => ({
	type: "armTimer",
	run,
	ms: settings.sessionTimeoutMs,
});

const interrupted = (error: string): RunEnd => ({ status: "failed", code: "interrupted", error });

function notice(error: string, timestamp: string): RunEffect {
	return { type: "store", event: { event: "error", data: { error, fatal: false, code: "interrupted", timestamp } } };
}

/** A new run: its first event, then the engine gets the prompt. */
function begin(state: RunState, prompt: string, before: readonly RunEffect[]): RunTransition {
	const run = state.run + 1;
	return {
		state: {
			...state,
			phase: "launching",
			run,
			prompt,
			retries: 0,
			listening: true,
			busy: false,
			finishing: false,
			handled: [],
		},
		effects: [...before, { type: "begin" }, { type: "launch", run, prompt }],
	};
}

/** The engine completed the run: SESSION_TIMEOUT no longer applies while the sidecar reads what it changed. */
function finish(state: RunState): RunTransition {
	return {
		state: { ...state, listening: false, busy: false, finishing: true, timer: false },
		effects: [...(state.timer ? [{ type: "cancelTimer" } as const] : []), { type: "finish", run: state.run }],
	};
}

function followUp(state: RunState, prompt: string): RunTransition {
	return { state: { ...state, queue: [...state.queue, prompt] }, effects: [] };
}

/** The engine went away under the run: it waits for the next engine (told so), or ends if it cannot resume. */
function interrupt(state: RunState, reason: string, settings: RunSettings, timestamp: string): RunTransition {
	if (!state.key || !settings.resumeInterrupted) {
		const why = settings.resumeInterrupted ? "" : " (RESUME_INTERRUPTED=false)";
		return end(state, interrupted(`the run was lost: ${reason}${why}`), timestamp);
	}
	// A run the engine never took keeps its prompt; one it was running is told to continue. The
	// engine that went away took the run's questions with it.
	const dropped = dropQuestions(state);
	return {
		state: { ...dropped.state, phase: "awaiting", listening: false },
		effects: [...dropped.effects, notice(`${reason}; the run resumes when the engine is back`, timestamp)],
	};
}

/** The engine is back (or the key is): the run waiting for it goes on. */
function resume(state: RunState): RunTransition {
	if (state.prompt !== undefined) {
		return {
			state: { ...state, phase: "launching", listening: true, busy: false },
			effects: [{ type: "launch", run: state.run, prompt: state.prompt }],
		};
	}
	return begin(state, RESUME_PROMPT, []);
}

function retry(
	state: RunState,
	input: Extract<RunInput, { type: "retry" }>,
	settings: RunSettings,
	timestamp: string,
): RunTransition {
	const code = retryCode(input.code, state.signals);
	const stored: RunEffect = {
		type: "store",
		event: {
			event: "error",
			data: {
				error: input.error,
				fatal: false,
				...(input.retryAfter === undefined ? {} : { retry_after: input.retryAfter }),
				code,
				timestamp,
			},
		},
	};
	const retries = state.retries + 1;
	const counted = { ...state, retries };
	// The engine retries rate limits and provider errors on its own, forever: capped per run.
	if (retries <= settings.maxRetries) return { state: counted, effects: [stored] };
	const max = settings.maxRetries;
	const gaveUp = end(counted, endFromRetries(code, input.error, max), timestamp, true);
	return { state: gaveUp.state, effects: [stored, ...gaveUp.effects] };
}

/**
 * The run ends. Queued follow-ups start one after the other after a completed run, and are
 * dropped (said on the stream) after any other end, with the key.
 */
function end(state: RunState, how: RunEnd, timestamp: string, abort = false): RunTransition {
	const effects: RunEffect[] = [];
	const completed = how.status === "completed";
	if (!completed && state.queue.length > 0) {
		effects.push({
			type: "store",
			event: {
				event: "output",
				data: {
					type: "stderr",
					text: `${state.queue.length} queued message(s) dropped: the run ended ${how.status}\n`,
					source: "sidecar",
					timestamp,
				},
			},
		});
	}
	if (state.timer) effects.push({ type: "cancelTimer" });
	const dropped = dropQuestions(state);
	effects.push(...dropped.effects, { type: "end", end: how });
	if (!completed && state.key) effects.push({ type: "dropKey" });
	if (abort) effects.push({ type: "abort" });
	const { prompt: _gone, ...rest } = state;
	const ended: RunState = {
		...rest,
		questions: dropped.state.questions,
		listening: false,
		busy: false,
		finishing: false,
		handled: [],
		phase: "idle",
		timer: false,
		key: completed && state.key,
		queue: completed ? state.queue : [],
	};
	const [next, ...queue] = ended.queue;
	if (!completed || next === undefined) return { state: ended, effects };
	const started = begin({ ...ended, queue }, next, effects);
	if (ended.key) return started;
	// No key yet (it is being fetched after a restart): the next run waits for it, prompt in hand.
	return {
		state: { ...started.state, phase: "awaiting" },
		effects: started.effects.filter((e) => e.type !== "launch"),
	};
}
