import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { isoTime } from "../../src/lib/clock";
import { decidePermission } from "../../src/sessions/permission-policy";
import type { RunEffect } from "../../src/sessions/run-effects";
import { params, play, RECOMMENDED, type Scenario, type Step, scenarioWith, settings, type World } from "./run-world";

/** Schedules with four times the usual share of questions, answers and permissions. */
const scenario = scenarioWith(4);

/**
 * Properties of the run machine's questions and permissions (run-requests.ts), over the same
 * random schedules as run-machine.test.ts: questions asked (again, as a reconciliation does),
 * answered by clients (fitting or not, open or not) racing their timeouts, cancels, run ends,
 * engine losses and shutdowns; permissions asked (again) under each PERMISSION_POLICY.
 */
const FOUND: [Scenario][] = [
	[
		{
			settings: settings({ sessionTimeoutMs: 5000, maxRetries: 0, resumeInterrupted: true }),
			commands: [
				{ c: "message", prompt: "a" },
				{ c: "settle", pick: 0, how: "ok" },
				{ c: "question", id: "que_1" },
				{ c: "permission", id: "per_1", permission: "edit", path: "/workspace/a.txt" },
				{ c: "permission", id: "per_1", permission: "edit", path: "/workspace/a.txt" },
				{ c: "answer", id: "que_1", fits: false },
				{ c: "advance", ms: 999 },
				{ c: "answer", id: "que_1", fits: true },
				{ c: "question", id: "que_2" },
				{ c: "cancel" },
				{ c: "answer", id: "que_2", fits: true },
			],
		},
	],
	// A question asked while the run waited for its engine was answered (by its timeout) in the resumed run.
	[
		{
			settings: {
				...settings({ sessionTimeoutMs: 500, maxRetries: 0, resumeInterrupted: true }),
				questionTimeoutMs: 200,
			},
			commands: [
				{ c: "message", prompt: "a" },
				{ c: "settle", pick: 0, how: "ok" },
				{ c: "engineLost" },
				{ c: "question", id: "que_1" },
			],
		},
	],
];

function prop(name: string, check: (w: World) => void): void {
	test(name, () => {
		fc.assert(
			fc.property(scenario, (s) => {
				check(play(s));
			}),
			params(FOUND),
		);
	});
}

const replies = (s: Step, type: "replyQuestion" | "replyPermission", id: string) =>
	s.effects.filter((e) => e.type === type && e.id === id);
const asks = (s: Step, event: "question" | "permission"): string[] =>
	s.effects.flatMap((e) => {
		if (e.type !== "store") return [];
		if (event === "question" && e.event.event === "question") return [e.event.data.question_id];
		if (event === "permission" && e.event.event === "permission") return [e.event.data.permission_id];
		return [];
	});
/** The step ended the run, set it aside (its engine went away) or stopped the sidecar. */
const runGone = (s: Step) =>
	s.effects.some((e) => e.type === "end") ||
	(s.before.phase !== "awaiting" && s.after.phase === "awaiting") ||
	(!s.before.closed && s.after.closed);

describe("run state machine: questions and permissions", () => {
	prop(
		"every question is answered exactly once (by a client or by its timeout with the recommended option) or dropped with its run",
		(w) => {
			w.steps.forEach((asked, i) => {
				for (const id of asks(asked, "question")) {
					const outcomes: string[] = [];
					for (const s of w.steps.slice(i + 1)) {
						for (const r of replies(s, "replyQuestion", id)) {
							if (r.type !== "replyQuestion") continue;
							if (s.input.type === "questionAnswered" && s.input.id === id) {
								expect(r).toEqual({ type: "replyQuestion", id, answers: s.input.answers, by: "client" });
							} else {
								expect(s.input).toEqual({ type: "questionTimedOut", id });
								expect(r).toEqual({ type: "replyQuestion", id, answers: RECOMMENDED, by: "timeout" });
							}
							outcomes.push(r.by);
						}
						const cancelled = s.effects.some((e) => e.type === "cancelQuestionTimer" && e.id === id);
						if (cancelled && !(s.input.type === "questionAnswered" && s.input.id === id)) {
							expect(runGone(s)).toBe(true);
							outcomes.push("dropped");
						}
						// The same id asked again after this one was settled is another question.
						if (outcomes.length > 0 && asks(s, "question").includes(id)) break;
					}
					expect({ id, outcomes: outcomes.length }).toEqual({ id, outcomes: 1 });
				}
			});
			// A client's answer is given only to an open question it fits; otherwise refused, and nothing changes.
			for (const s of w.steps) {
				const input = s.input;
				if (input.type !== "questionAnswered") continue;
				const open = s.before.questions.some((q) => q.id === input.id) && !s.before.closed;
				const fits = input.answers[0]?.length === 1;
				if (open && fits) expect(s.effects.some((e) => e.type === "replyQuestion")).toBe(true);
				else {
					expect(s.effects.filter((e) => e.type !== "refuseAnswer")).toEqual([]);
					expect(s.after).toBe(s.before);
				}
			}
			// Nothing left open after the world settled, and the timers armed are always those of the open questions.
			expect(w.state.questions).toEqual([]);
			expect(w.timerMismatches).toEqual([]);
		},
	);

	prop("no reply to a question or permission after the run ended", (w) => {
		w.steps.forEach((s, i) => {
			for (const e of s.effects) {
				if (e.type !== "replyQuestion" && e.type !== "replyPermission") continue;
				expect({ phase: s.before.phase, closed: s.before.closed }).not.toMatchObject({ phase: "idle" });
				expect(s.before.closed).toBe(false);
				if (e.type === "replyPermission") {
					expect(asks(s, "permission")).toContain(e.id);
					continue;
				}
				// Asked in this run, which neither ended nor lost its engine since.
				const asked = w.steps.slice(0, i).findLastIndex((x) => asks(x, "question").includes(e.id));
				expect(asked).toBeGreaterThanOrEqual(0);
				expect(w.steps.slice(asked + 1, i).filter(runGone)).toEqual([]);
				expect(s.before.run).toBe(w.steps[asked]?.after.run ?? Number.NaN);
			}
		});
	});

	prop("a question's timer fires at its deadline in virtual time", (w) => {
		const qt = w.settings.questionTimeoutMs;
		for (const e of w.log) {
			if (e.event.event !== "question") continue;
			expect(e.event.data.expires_at).toBe(isoTime(e.at + qt));
			expect(e.event.data.timestamp).toBe(isoTime(e.at));
		}
		w.steps.forEach((s, i) => {
			if (!s.effects.some((e) => e.type === "replyQuestion" && e.by === "timeout")) return;
			const id = s.input.type === "questionTimedOut" ? s.input.id : "?";
			const asked = w.steps.slice(0, i).findLast((x) => asks(x, "question").includes(id));
			expect({ id, at: s.at }).toEqual({ id, at: (asked?.at ?? Number.NaN) + qt });
		});
		// No question is left open past its deadline (the world checks after time passes).
		expect(w.violations.filter((v) => v.startsWith("question"))).toEqual([]);
	});

	prop(
		"every permission request of a run in the engine is answered once, at once, as PERMISSION_POLICY decides",
		(w) => {
			const answered = new Set<string>();
			for (const s of w.steps) {
				if (s.effects.some((e) => e.type === "begin")) answered.clear();
				if (s.input.type !== "permissionAsked") continue;
				const { ask } = s.input;
				const live = (s.before.phase === "launching" || s.before.phase === "running") && !s.before.closed;
				if (!live || answered.has(`${s.before.run}:${ask.id}`)) {
					expect(s.effects).toEqual([]);
					continue;
				}
				answered.add(`${s.before.run}:${ask.id}`);
				const { decision, reason } = decidePermission(ask, w.settings.permissionPolicy, w.settings.workspaceDir);
				const reply: RunEffect =
					decision === "allow"
						? { type: "replyPermission", id: ask.id, reply: "once" }
						: { type: "replyPermission", id: ask.id, reply: "reject", message: reason };
				expect(s.effects).toEqual([
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
								timestamp: isoTime(s.at),
							},
						},
					},
					reply,
				]);
			}
		},
	);
});
