import { isoTime } from "../lib/clock";
import { decidePermission, type PermissionAsk } from "./permission-policy";
import { answersProblem, defaultAnswers, type Question } from "./questions";
import type { RunEffect, RunSettings, RunState, RunTransition } from "./run-effects";

/**
 * The run machine's part for what the agent asks of a person (pure, called by run-machine.ts
 * with a live run): permission requests answered at once by PERMISSION_POLICY, questions
 * answered by a client or, at QUESTION_TIMEOUT, by their default. No run ever waits for a person.
 * Each request id is handled once per run: a reconciliation announces again what the engine
 * still waits on, which may be a request answered a moment ago.
 */

export function askPermission(
	state: RunState,
	ask: PermissionAsk,
	settings: RunSettings,
	nowMs: number,
): RunTransition {
	if (state.handled.includes(ask.id)) return { state, effects: [] };
	const { decision, reason } = decidePermission(ask, settings.permissionPolicy, settings.workspaceDir);
	return {
		state: { ...state, handled: [...state.handled, ask.id] },
		effects: [
			{
				type: "store",
				event: {
					event: "permission",
					data: {
						permission_id: ask.id,
						permission: ask.permission,
						patterns: [...ask.patterns],
						decision,
						reason,
						timestamp: isoTime(nowMs),
					},
				},
			},
			// A rejection without a message would stop the agent; with one it continues another way.
			decision === "allow"
				? { type: "replyPermission", id: ask.id, reply: "once" }
				: { type: "replyPermission", id: ask.id, reply: "reject", message: reason },
		],
	};
}

export function askQuestion(
	state: RunState,
	id: string,
	questions: Question[],
	settings: RunSettings,
	nowMs: number,
): RunTransition {
	if (state.handled.includes(id)) return { state, effects: [] };
	const defaults = defaultAnswers(questions);
	const ms = settings.questionTimeoutMs;
	return {
		state: {
			...state,
			handled: [...state.handled, id],
			questions: [...state.questions, { id, questions, defaults }],
		},
		effects: [
			{
				type: "store",
				event: {
					event: "question",
					data: {
						question_id: id,
						questions,
						default: defaults,
						expires_at: isoTime(nowMs + ms),
						timestamp: isoTime(nowMs),
					},
				},
			},
			{ type: "armQuestionTimer", id, ms },
		],
	};
}

/**
 * A question answered, by a client (`answers`) or by its timeout (its default). A client's
 * answer to no open question, or one that does not fit the questions, is refused.
 */
export function answerQuestion(
	state: RunState,
	id: string,
	answers: string[][] | undefined,
	settings: RunSettings,
	nowMs: number,
): RunTransition {
	const open = state.questions.find((q) => q.id === id);
	const by = answers === undefined ? "timeout" : "client";
	if (!open) return { state, effects: by === "client" ? [{ type: "refuseAnswer", id }] : [] };
	const problem = answers && answersProblem(open.questions, answers);
	if (problem) return { state, effects: [{ type: "refuseAnswer", id, problem }] };
	const given = answers ?? open.defaults;
	const seconds = settings.questionTimeoutMs / 1000;
	const text =
		by === "client"
			? `Question answered: ${JSON.stringify(given)}\n`
			: `Nobody answered within QUESTION_TIMEOUT (${seconds}s); answered with the default: ${JSON.stringify(given)}\n`;
	return {
		state: { ...state, questions: state.questions.filter((q) => q !== open) },
		effects: [
			...(by === "client" ? [{ type: "cancelQuestionTimer", id } as const] : []),
			{
				type: "store",
				event: { event: "output", data: { type: "stdout", text, source: "sidecar", timestamp: isoTime(nowMs) } },
			},
			{ type: "replyQuestion", id, answers: given, by },
		],
	};
}

/** The run ended or its engine went away: its open questions are gone (the engine drops them), timers too. */
export function dropQuestions(state: RunState): { state: RunState; effects: RunEffect[] } {
	if (state.questions.length === 0) return { state, effects: [] };
	return {
		state: { ...state, questions: [] },
		effects: state.questions.map((q) => ({ type: "cancelQuestionTimer", id: q.id })),
	};
}
