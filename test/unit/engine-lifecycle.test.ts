import { describe, expect, test } from "bun:test";
import {
	type EngineState,
	engineTransition,
	initialEngineState,
	isLive,
	type LifecycleEffect,
	type LifecycleInput,
	type LifecycleSettings,
	pendingStartStep,
} from "../../src/engine/lifecycle";

const settings: LifecycleSettings = {
	backoffMs: 500,
	maxBackoffMs: 30_000,
	healthFailures: 3,
	stableMs: 60_000,
	signalSettleMs: 1000,
};

/** Applies inputs in order; returns the final state and every effect, in order. */
function run(inputs: LifecycleInput[], from: EngineState = initialEngineState) {
	let state = from;
	const effects: LifecycleEffect[] = [];
	for (const input of inputs) {
		const t = engineTransition(state, input, settings);
		state = t.state;
		effects.push(...t.effects);
	}
	return { state, effects };
}

const kinds = (effects: LifecycleEffect[]) => effects.map((e) => e.type);
const logs = (effects: LifecycleEffect[], level: string) =>
	effects.filter((e): e is Extract<LifecycleEffect, { type: "log" }> => e.type === "log" && e.level === level);

/** A started, warmed-up engine (generation 1). */
const ready = run([
	{ type: "start" },
	{ type: "listening", generation: 1 },
	{ type: "feedConnected", generation: 1 },
	{ type: "warmedUp", generation: 1, at: 1000 },
]).state;

const failHealth = (n: number, generation = 1): LifecycleInput[] =>
	Array.from({ length: n }, (_, i) => ({
		type: "health" as const,
		generation,
		ok: false,
		detail: "timed out",
		at: 2000 + i,
	}));

describe("engine lifecycle", () => {
	test("a normal start: spawn, connect the feed, resync, ready, warm up; no warning, no error", () => {
		const { state, effects } = run([
			{ type: "start" },
			{ type: "listening", generation: 1 },
			{ type: "feedConnected", generation: 1 },
			{ type: "warmedUp", generation: 1, at: 1000 },
		]);
		expect(kinds(effects)).toEqual(["spawn", "connectFeed", "resync", "ready", "warmUp"]);
		expect(state.phase).toBe("ready");
		expect(isLive(state)).toBe(true);
	});

	test("a normal stop: SIGTERM and the exit that follows end in stopped with no warning and no error", () => {
		const { state, effects } = run(
			[{ type: "drain" }, { type: "stop" }, { type: "exited", generation: 1, code: 143, signal: "SIGTERM" }],
			ready,
		);
		expect(state.phase).toBe("stopped");
		expect(kinds(effects)).not.toContain("lost");
		expect(kinds(effects)).not.toContain("scheduleRestart");
		expect([...logs(effects, "warn"), ...logs(effects, "error")]).toEqual([]);
	});

	test("Ctrl-C: the engine exits on SIGINT before the sidecar drains; no restart, no error", () => {
		const { state, effects } = run(
			[{ type: "exited", generation: 1, code: 130, signal: "SIGINT" }, { type: "drain" }, { type: "stop" }],
			ready,
		);
		expect(state.phase).toBe("stopped");
		expect(kinds(effects)).toEqual(["armSettle", "cancelRestart"]);
		expect(logs(effects, "error")).toEqual([]);
	});

	test("an engine killed by SIGTERM from outside while the sidecar keeps running is a crash once settled", () => {
		const { state, effects } = run(
			[
				{ type: "exited", generation: 1, code: 143, signal: "SIGTERM" },
				{ type: "settled", generation: 1 },
			],
			ready,
		);
		expect(state.phase).toBe("lost");
		expect(kinds(effects)).toEqual(["armSettle", "log", "lost", "log", "scheduleRestart"]);
		expect(logs(effects, "error").map((e) => e.msg)).toEqual(["engine exited"]);
	});

	test("a crash tells the runs, logs an error and restarts with doubling back-off", () => {
		const crash = (g: number): LifecycleInput[] => [
			{ type: "exited", generation: g, code: 1, signal: null },
			{ type: "restartDue" },
			{ type: "listening", generation: g + 1 },
			{ type: "feedConnected", generation: g + 1 },
		];
		const { effects } = run([...crash(1), ...crash(2), ...crash(3)], ready);
		const delays = effects.flatMap((e) => (e.type === "scheduleRestart" ? [e.delayMs] : []));
		expect(delays).toEqual([500, 1000, 2000]);
		expect(kinds(effects).filter((k) => k === "lost")).toHaveLength(3);
	});

	test("the watchdog recycles after N consecutive failed checks, not before; a success resets the count", () => {
		const two = run(failHealth(2), ready);
		expect(two.state.phase).toBe("ready");
		expect(kinds(two.effects)).not.toContain("kill");
		const reset = run(
			[{ type: "health", generation: 1, ok: true, detail: "healthy", at: 3000 }, ...failHealth(2)],
			two.state,
		);
		expect(reset.state.phase).toBe("ready");
		const third = run(failHealth(1), two.state);
		expect(third.state.phase).toBe("recycling");
		expect(kinds(third.effects)).toEqual(["log", "countRecycle", "closeFeed", "kill"]);
		expect(third.effects).toContainEqual({ type: "countRecycle", cause: "unresponsive" });
	});

	test("a recycled unresponsive engine is lost, then restarted with back-off like a crash", () => {
		const { state, effects } = run(
			[...failHealth(3), { type: "exited", generation: 1, code: null, signal: "SIGKILL" }],
			ready,
		);
		expect(state.phase).toBe("lost");
		expect(effects).toContainEqual({
			type: "lost",
			reason: "engine recycled: the engine failed 3 health checks in a row (timed out)",
		});
		expect(effects).toContainEqual({ type: "scheduleRestart", delayMs: 500 });
		// A recycle is not a crash: no error line.
		expect(logs(effects, "error")).toEqual([]);
	});

	test("no recycle during the start-up grace: checks before the warm-up ends do not count", () => {
		const warming = run([
			{ type: "start" },
			{ type: "listening", generation: 1 },
			{ type: "feedConnected", generation: 1 },
		]).state;
		const { state, effects } = run(failHealth(10), warming);
		expect(state.phase).toBe("warming");
		expect(effects).toEqual([]);
	});

	test("an engine that hangs again and again is not restarted in a loop: the back-off grows until it is stable", () => {
		let state = ready;
		const delays: number[] = [];
		for (let g = 1; g <= 4; g++) {
			const t = run(
				[
					...failHealth(3, g),
					{ type: "exited", generation: g, code: null, signal: "SIGKILL" },
					{ type: "restartDue" },
					{ type: "listening", generation: g + 1 },
					{ type: "feedConnected", generation: g + 1 },
					{ type: "warmedUp", generation: g + 1, at: 1000 },
				],
				state,
			);
			state = t.state;
			delays.push(...t.effects.flatMap((e) => (e.type === "scheduleRestart" ? [e.delayMs] : [])));
		}
		expect(delays).toEqual([500, 1000, 2000, 4000]);
		// A minute of health later, the next failure starts from the first delay again.
		const stable = run([{ type: "health", generation: 5, ok: true, detail: "healthy", at: 1000 + 60_000 }], state);
		expect(stable.state.failures).toBe(0);
	});

	test("a memory recycle restarts at once", () => {
		const { effects } = run(
			[
				{ type: "recycle", cause: "memory", reason: "rss" },
				{ type: "exited", generation: 1, code: 143, signal: "SIGTERM" },
			],
			ready,
		);
		expect(effects).toContainEqual({ type: "scheduleRestart", delayMs: 0 });
		expect(effects).toContainEqual({ type: "countRecycle", cause: "memory" });
	});

	test("a feed reconnect resyncs without a new warm-up; inputs about an old process change nothing", () => {
		const { state, effects } = run(
			[
				{ type: "feedLost", generation: 1, reason: "cut" },
				{ type: "feedConnected", generation: 1 },
				{ type: "exited", generation: 0, code: 1, signal: null },
				{ type: "health", generation: 7, ok: false, detail: "x", at: 0 },
			],
			ready,
		);
		expect(kinds(effects)).toEqual(["log", "resync", "ready"]);
		expect(state.phase).toBe("ready");
		expect(isLive(state)).toBe(true);
	});

	test("an engine that never listens is recycled as start_timeout, restarted with back-off, and the step is named", () => {
		const { state, effects } = run([
			{ type: "start" },
			{ type: "startTimedOut", generation: 1, timeoutMs: 30_000 },
			{ type: "exited", generation: 1, code: 143, signal: "SIGTERM" },
		]);
		expect(effects).toContainEqual({ type: "countRecycle", cause: "start_timeout" });
		expect(state.phase).toBe("lost");
		expect(logs(effects, "error").map((e) => e.fields)).toEqual([
			{
				step: "listening",
				timeout_ms: 30_000,
				reason: "the engine's start step listening did not complete within 30000 ms",
			},
		]);
		expect(state.lastError).toContain("listening did not complete");
	});
});

describe("the start timeout and the feed before its first connection", () => {
	const html = "engine /event answered 200 text/html, not text/event-stream";
	const listening = run([{ type: "start" }, { type: "listening", generation: 1 }]).state;

	test("a feed that fails before its first connection is an error line once per reason, and the state keeps why", () => {
		const { state, effects } = run(
			[
				{ type: "feedLost", generation: 1, reason: html },
				{ type: "feedLost", generation: 1, reason: html },
				{ type: "feedLost", generation: 1, reason: "event stream failed: refused" },
			],
			listening,
		);
		expect(logs(effects, "error").map((e) => [e.msg, e.fields])).toEqual([
			["engine event feed failed", { reason: html }],
			["engine event feed failed", { reason: "event stream failed: refused" }],
		]);
		expect(state.feedError).toBe("event stream failed: refused");
		expect(isLive(state)).toBe(false);
	});

	test("the start timeout names the feed, with what the feed got, when the engine listens but its feed never connects", () => {
		const { state, effects } = run(
			[
				{ type: "feedLost", generation: 1, reason: html },
				{ type: "startTimedOut", generation: 1, timeoutMs: 5000 },
			],
			listening,
		);
		const reason = `the engine's start step feed did not complete within 5000 ms: ${html}`;
		expect(logs(effects, "error").at(-1)).toMatchObject({
			msg: "engine start timed out",
			fields: { step: "feed", reason },
		});
		expect(kinds(effects)).toContain("kill");
		expect(state).toMatchObject({ phase: "recycling", lastError: reason });
	});

	test("a warm-up over the start timeout is a warning naming it, not a recycle (the engine already serves); a ready engine ignores it", () => {
		const warming = run([{ type: "feedConnected", generation: 1 }], listening).state;
		expect(pendingStartStep(warming)).toBe("warm-up");
		const timedOut = run([{ type: "startTimedOut", generation: 1, timeoutMs: 5000 }], warming);
		expect(timedOut.effects).toEqual([
			{
				type: "log",
				level: "warn",
				msg: "engine warm-up did not complete in time",
				fields: { step: "warm-up", timeout_ms: 5000 },
			},
		]);
		expect(timedOut.state).toBe(warming);
		expect(pendingStartStep(ready)).toBeUndefined();
		expect(run([{ type: "startTimedOut", generation: 1, timeoutMs: 5000 }], ready)).toEqual({
			state: ready,
			effects: [],
		});
	});
});
