import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { isTerminal, params, play, type Scenario, scenario, settings, type World } from "./run-world";

/**
 * Properties of the run state machine over random interleavings of every input it takes:
 * launches that succeed, fail or come back late (engine restarts mid-launch), engine reports
 * (busy, idle, errors) duplicated and out of order, retries, provider status and stalls, cancels
 * racing completions, follow-ups queued behind runs, keys fetched or lost, timeouts in virtual
 * time, reconciliations, permissions and questions, pruning and shutdown (see run-world.ts).
 * Questions and permissions have their own properties in run-machine-questions.test.ts.
 */
/** Schedules a property once failed on (kept as fixed examples). */
const FOUND: [Scenario][] = [
	[
		{
			settings: settings({ sessionTimeoutMs: 500, maxRetries: 0, resumeInterrupted: false }),
			commands: [
				{ c: "message", prompt: "a" },
				{ c: "cancel" },
				{ c: "shutdown" },
				{ c: "settle", pick: 0, how: "ok" },
			],
		},
	],
	[
		{
			settings: settings({ sessionTimeoutMs: 500, maxRetries: 0, resumeInterrupted: false }),
			restarted: { fetching: true },
			commands: [{ c: "message", prompt: "a" }, { c: "reopen" }, { c: "engineCompleted" }, { c: "scanned" }],
		},
	],
	[
		{
			settings: settings({ sessionTimeoutMs: 500, maxRetries: 0, resumeInterrupted: false }),
			restarted: { fetching: true },
			commands: [
				{ c: "keyFetched" },
				{ c: "settle", pick: 0, how: "ok" },
				{ c: "engineCompleted" },
				{ c: "scanned" },
				{ c: "shutdown" },
				{ c: "prune" },
			],
		},
	],
	// A second reconciliation of a run set aside, while the first one's completion was being read, completed it again.
	[
		{
			settings: settings({ sessionTimeoutMs: 500, maxRetries: 0, resumeInterrupted: false }),
			restarted: { fetching: true },
			commands: [{ c: "reopen" }, { c: "engineCompleted" }, { c: "reopen" }, { c: "engineCompleted" }],
		},
	],
];

function prop(name: string, check: (w: World, s: Scenario) => void): void {
	test(name, () => {
		fc.assert(
			fc.property(scenario, (s) => {
				check(play(s), s);
			}),
			params(FOUND),
		);
	});
}

describe("run state machine", () => {
	prop("exactly one terminal event per run", (w) => {
		const byRun = new Map<number, number>();
		for (const e of w.log) if (isTerminal(e.event)) byRun.set(e.run, (byRun.get(e.run) ?? 0) + 1);
		const runs = w.currentRun;
		for (let r = 1; r <= runs; r++) {
			const n = byRun.get(r) ?? 0;
			const live = r === runs && w.open;
			// A run still live at the end can only be one the sidecar's shutdown left as it was.
			if (live) expect({ run: r, n, closed: w.state.closed }).toEqual({ run: r, n: 0, closed: true });
			else expect({ run: r, n }).toEqual({ run: r, n: 1 });
		}
	});

	prop("ids dense and increasing, and nothing of a run after its terminal event", (w) => {
		expect(w.log.map((e) => e.id)).toEqual(w.log.map((_, i) => i + 1));
		for (let i = 1; i < w.log.length; i++) {
			const prev = w.log[i - 1]?.event;
			const next = w.log[i]?.event;
			if (prev && next && isTerminal(prev)) {
				expect(next).toMatchObject({ event: "status", data: { status: "running" } });
			}
		}
	});

	prop("nothing is prompted after a cancel", (w) => {
		const cancelled = w.steps.findIndex((s) => s.input.type === "cancel" && s.effects.some((e) => e.type === "end"));
		if (cancelled === -1) return;
		const cancelledRun = w.steps[cancelled]?.after.run;
		for (const s of w.steps.slice(cancelled + 1)) {
			expect(s.effects.filter((e) => e.type === "launch" || e.type === "begin")).toEqual([]);
			// The engine took the prompt after all: it is aborted at once.
			if (s.input.type === "launched" && s.input.run === cancelledRun) {
				expect(s.effects).toContainEqual({ type: "abort" });
			}
		}
	});

	prop("every run ends by its timeout in virtual time", (w) => {
		expect(w.violations).toEqual([]);
		// After the world settled, no run is left waiting (unless the sidecar stopped under it).
		if (!w.state.closed) expect(w.state.phase).toBe("idle");
	});

	prop("the record's status equals the last status event", (w) => {
		const statuses = w.log.filter((e) => e.event.event === "status");
		const last = statuses.at(-1)?.event.data as { status?: string } | undefined;
		const record = w.state.phase !== "idle" ? "running" : (w.lastEnd?.status ?? (w.state.run === 0 ? "pending" : "?"));
		expect(last?.status ?? "pending").toBe(record);
	});

	prop("a key is held exactly as the documented rule says", (w) => {
		for (const s of w.steps) {
			const live = s.after.phase !== "idle";
			const ended = s.effects.find((e) => e.type === "end");
			// Held by the run while it runs (once given), never after a cancel, a failure or pruning.
			if (ended && ended.type === "end" && ended.end.status !== "completed") expect(s.after.key).toBe(false);
			if (s.input.type === "prune") expect(s.after.key).toBe(false);
			if (live && (s.after.phase === "launching" || s.after.phase === "running")) expect(s.after.key).toBe(true);
			// Kept after a completed run, for follow-ups.
			if (ended && ended.type === "end" && ended.end.status === "completed") expect(s.after.key).toBe(s.before.key);
		}
		expect(w.keyHeld).toBe(w.state.key);
		if (w.pruned) expect(w.keyHeld).toBe(false);
	});

	prop("an engine idle ends a run only after the engine was busy with it, and only once", (w) => {
		const finished = new Set<number>();
		w.steps.forEach((s, i) => {
			const ends = s.effects.some((e) => e.type === "finish" || e.type === "end");
			if (s.input.type !== "engineIdle" || !ends) return;
			expect(s.input.unsettled).toBeUndefined();
			// Since the engine was last given the run's prompt, it said busy while the run was in it.
			const launched = w.steps.slice(0, i).findLastIndex((x) => x.effects.some((e) => e.type === "launch"));
			const busy = w.steps.slice(launched + 1, i).some((x) => x.input.type === "engineBusy" && x.before.listening);
			expect({ step: i, busy }).toEqual({ step: i, busy: true });
			expect(finished.has(s.before.run)).toBe(false);
			finished.add(s.before.run);
		});
	});

	test("determinism: the same inputs give the same outputs", () => {
		fc.assert(
			fc.property(scenario, (s) => {
				const a = play(s);
				const b = play(s);
				expect(b.steps).toEqual(a.steps);
				expect(b.log).toEqual(a.log);
			}),
			params(FOUND),
		);
	});
});
