/**
 * The engine process's lifecycle as a pure state machine:
 * `(state, input) → { state, effects }`. The supervisor (supervisor.ts)
 * feeds it what happened (the process listens, the feed connects, a health
 * check fails, the process exits, the sidecar drains) and carries out the
 * effects it returns (spawn, kill, tell the sessions, schedule a restart,
 * log). No I/O and no clock here: time comes in on the inputs.
 *
 *   stopped ─start→ starting ─listening→ warming ─warmedUp→ ready
 *   starting|warming ─startTimedOut (a step took over ENGINE_START_TIMEOUT)→ recycling, naming the step
 *   warming|ready ─N failed health checks→ recycling ─exited→ lost ─restartDue→ starting
 *   any live phase ─exited→ lost (a crash; back-off) ─restartDue→ starting
 *   any ─drain→ draining (an exit now is the shutdown, not a crash) ─stop/exited→ stopped
 */

export type EnginePhase = "stopped" | "starting" | "warming" | "ready" | "lost" | "recycling" | "draining";

/** Why the engine was replaced, for logs and the `engine_recycles_total{reason}` metric. */
export type RecycleCause = "unresponsive" | "memory" | "start_timeout";

export interface EngineState {
	readonly phase: EnginePhase;
	/** Engine processes started so far; inputs about an older process are ignored. */
	readonly generation: number;
	/** The `/event` feed of the current process is connected. */
	readonly feedConnected: boolean;
	/** Why the feed's last connection attempt ended, while it is not connected (for `/ready`). */
	readonly feedError: string | undefined;
	/** Consecutive starts that did not end in a stable engine: the restart back-off's exponent. */
	readonly failures: number;
	/** Consecutive failed health checks of the current process. */
	readonly healthFailures: number;
	/** When the current process finished its warm-up (ms), for the back-off reset. */
	readonly readyAt: number | undefined;
	/** Set while recycling: why. */
	readonly recycle: { readonly cause: RecycleCause; readonly reason: string } | undefined;
	/** Why the engine is not usable, for `/ready`. */
	readonly lastError: string | undefined;
	/** An exit on SIGTERM/SIGINT we did not send, waiting to see whether the sidecar is stopping too. */
	readonly signalExit: { readonly code: number | null; readonly signal: string | null } | undefined;
}

export interface LifecycleSettings {
	/** First restart delay after a crash or an unresponsive engine; doubles per failure. */
	readonly backoffMs: number;
	readonly maxBackoffMs: number;
	/** Consecutive failed health checks that recycle the engine (ENGINE_HEALTH_FAILURES). */
	readonly healthFailures: number;
	/** Ready this long without a failure resets the back-off. */
	readonly stableMs: number;
	/**
	 * An engine that exits on SIGTERM/SIGINT that the supervisor did not send
	 * has most likely received the sidecar's own stop signal (Ctrl-C signals
	 * the whole process group): wait this long for the sidecar's drain before
	 * treating it as a crash.
	 */
	readonly signalSettleMs: number;
}

export type LifecycleInput =
	| { readonly type: "start" }
	| { readonly type: "spawnFailed"; readonly error: string }
	| { readonly type: "listening"; readonly generation: number }
	/** The current start step (listening, feed, warm-up: `pendingStartStep`) has taken ENGINE_START_TIMEOUT. */
	| { readonly type: "startTimedOut"; readonly generation: number; readonly timeoutMs: number }
	| { readonly type: "feedConnected"; readonly generation: number }
	| { readonly type: "feedLost"; readonly generation: number; readonly reason: string }
	| { readonly type: "warmedUp"; readonly generation: number; readonly at: number }
	| {
			readonly type: "health";
			readonly generation: number;
			readonly ok: boolean;
			readonly detail: string;
			readonly at: number;
	  }
	| { readonly type: "recycle"; readonly cause: RecycleCause; readonly reason: string }
	| {
			readonly type: "exited";
			readonly generation: number;
			readonly code: number | null;
			readonly signal: string | null;
	  }
	| { readonly type: "settled"; readonly generation: number }
	| { readonly type: "restartDue" }
	| { readonly type: "drain" }
	| { readonly type: "stop" };

export type LogLevel = "debug" | "info" | "warn" | "error";

export type LifecycleEffect =
	| { readonly type: "spawn"; readonly generation: number }
	| { readonly type: "connectFeed" }
	| { readonly type: "closeFeed" }
	| { readonly type: "warmUp" }
	/** SIGTERM now, SIGKILL if it has not exited after the supervisor's kill grace. */
	| { readonly type: "kill" }
	| { readonly type: "scheduleRestart"; readonly delayMs: number }
	| { readonly type: "cancelRestart" }
	| { readonly type: "armSettle"; readonly delayMs: number }
	| { readonly type: "ready" }
	/** The feed came back (first connection of a process, or a reconnect): reconcile before live events flow. */
	| { readonly type: "resync" }
	| { readonly type: "lost"; readonly reason: string }
	| { readonly type: "countRecycle"; readonly cause: RecycleCause }
	| {
			readonly type: "log";
			readonly level: LogLevel;
			readonly msg: string;
			readonly fields?: Readonly<Record<string, unknown>>;
	  };

export interface Transition {
	readonly state: EngineState;
	readonly effects: readonly LifecycleEffect[];
}

export const initialEngineState: EngineState = {
	phase: "stopped",
	generation: 0,
	feedConnected: false,
	feedError: undefined,
	failures: 0,
	healthFailures: 0,
	readyAt: undefined,
	recycle: undefined,
	lastError: "starting",
	signalExit: undefined,
};

/** The phases in which the engine takes calls (the warm-up does not hold `/ready`). */
export const isLive = (s: EngineState): boolean =>
	(s.phase === "warming" || s.phase === "ready" || s.phase === "draining") && s.feedConnected;

const STOP_SIGNALS = new Set(["SIGTERM", "SIGINT", "SIGHUP"]);
/** Exit codes of a process ended by SIGHUP, SIGINT, SIGTERM (128 + n), as Bun reports some of them. */
const STOP_CODES = new Set([129, 130, 143]);

const same = (state: EngineState): Transition => ({ state, effects: [] });

export function engineTransition(s: EngineState, input: LifecycleInput, settings: LifecycleSettings): Transition {
	// Inputs about a process that is no longer the current one change nothing.
	if ("generation" in input && input.generation !== s.generation) return same(s);
	switch (input.type) {
		case "start":
			if (s.phase !== "stopped") return same(s);
			return spawn({ ...s, lastError: "starting" });
		case "spawnFailed":
			if (s.phase !== "starting") return same(s);
			return crashed(s, input.error, settings, []);
		case "listening":
			if (s.phase !== "starting") return same(s);
			return {
				state: { ...s, phase: "warming", healthFailures: 0, lastError: undefined },
				effects: [{ type: "connectFeed" }],
			};
		case "startTimedOut":
			return startTimedOut(s, input.timeoutMs);
		case "feedConnected": {
			if (s.phase !== "warming" && s.phase !== "ready" && s.phase !== "draining") return same(s);
			const first = s.readyAt === undefined && s.phase === "warming" && !s.feedConnected;
			const effects: LifecycleEffect[] = [{ type: "resync" }, { type: "ready" }];
			// Once per process (the feed may reconnect); runs wait for it, `/ready` does not.
			if (first) effects.push({ type: "warmUp" });
			return { state: { ...s, feedConnected: true, feedError: undefined }, effects };
		}
		case "feedLost":
			if (!s.feedConnected) return feedFailed(s, input.reason);
			return {
				state: { ...s, feedConnected: false, feedError: input.reason },
				effects:
					s.phase === "warming" || s.phase === "ready"
						? [
								{
									type: "log",
									level: "warn",
									msg: "engine event feed lost; reconnecting",
									fields: { reason: input.reason },
								},
							]
						: [],
			};
		case "warmedUp":
			if (s.phase !== "warming") return same(s);
			return { state: { ...s, phase: "ready", readyAt: input.at }, effects: [] };
		case "health":
			return health(s, input, settings);
		case "recycle":
			if (s.phase !== "ready" && s.phase !== "warming") return same(s);
			return recycle(s, input.cause, input.reason);
		case "exited":
			return exited(s, input, settings);
		case "settled": {
			const pending = s.signalExit;
			if (s.phase !== "lost" || !pending) return same(s);
			const cleared = { ...s, signalExit: undefined };
			return crashed(cleared, `engine exited with code ${pending.code ?? pending.signal ?? "null"}`, settings, [
				{
					type: "log",
					level: "error",
					msg: "engine exited",
					fields: { code: pending.code, signal: pending.signal },
				},
			]);
		}
		case "restartDue":
			if (s.phase !== "lost") return same(s);
			return spawn(s);
		case "drain":
			if (s.phase === "stopped" || s.phase === "draining") return same(s);
			// A process gone while we waited for the stop signal to reach us: that was the shutdown.
			if (s.phase === "lost") {
				return {
					state: { ...s, phase: "stopped", signalExit: undefined, feedConnected: false },
					effects: [{ type: "cancelRestart" }],
				};
			}
			return { state: { ...s, phase: "draining" }, effects: [{ type: "cancelRestart" }] };
		case "stop":
			if (s.phase === "stopped") return same(s);
			return {
				state: { ...s, phase: "draining", feedConnected: false },
				effects: [{ type: "cancelRestart" }, { type: "closeFeed" }, { type: "kill" }],
			};
	}
}

function spawn(s: EngineState): Transition {
	const generation = s.generation + 1;
	return {
		state: {
			...s,
			phase: "starting",
			generation,
			feedConnected: false,
			feedError: undefined,
			healthFailures: 0,
			readyAt: undefined,
			recycle: undefined,
			signalExit: undefined,
		},
		effects: [{ type: "spawn", generation }],
	};
}

/** The step of the start that has not completed, for the start timeout's error line and `/ready`. */
export type StartStep = "listening" | "feed" | "warm-up";

/** Which step a starting engine is at; undefined once it is ready (or not starting at all). */
export function pendingStartStep(s: EngineState): StartStep | undefined {
	if (s.phase === "starting") return "listening";
	if (s.phase !== "warming") return undefined;
	return s.feedConnected ? "warm-up" : "feed";
}

function startTimedOut(s: EngineState, timeoutMs: number): Transition {
	const step = pendingStartStep(s);
	if (!step) return same(s);
	if (step === "warm-up") {
		// The engine already serves (`/ready` does not wait for the warm-up): a slow warm-up (an overloaded
		// node) is said, not punished; the warm-up ends at its own limit and the engine counts as ready.
		return {
			state: s,
			effects: [
				{
					type: "log",
					level: "warn",
					msg: "engine warm-up did not complete in time",
					fields: { step, timeout_ms: timeoutMs },
				},
			],
		};
	}
	const detail = step === "feed" && s.feedError ? `: ${s.feedError}` : "";
	const reason = `the engine's start step ${step} did not complete within ${timeoutMs} ms${detail}`;
	const t = recycle({ ...s, lastError: reason }, "start_timeout", reason);
	return {
		state: t.state,
		effects: [
			{ type: "log", level: "error", msg: "engine start timed out", fields: { step, timeout_ms: timeoutMs, reason } },
			...t.effects,
		],
	};
}

/**
 * A connection attempt of the feed failed while it was not connected: kept
 * for `/ready`, and said once per distinct reason while the engine starts
 * (an engine that listens but whose `/event` is not an event stream is the
 * wrong engine, not a slow one).
 */
function feedFailed(s: EngineState, reason: string): Transition {
	if (s.phase !== "warming" && s.phase !== "ready") return same(s);
	const state = { ...s, feedError: reason };
	if (s.phase !== "warming" || s.feedError === reason) return { state, effects: [] };
	return {
		state,
		effects: [{ type: "log", level: "error", msg: "engine event feed failed", fields: { reason } }],
	};
}

function health(
	s: EngineState,
	input: Extract<LifecycleInput, { type: "health" }>,
	settings: LifecycleSettings,
): Transition {
	// The start-up grace: checks count only once the engine has warmed up.
	if (s.phase !== "ready") return same(s);
	if (input.ok) {
		const stable = s.readyAt !== undefined && input.at - s.readyAt >= settings.stableMs;
		if (s.healthFailures === 0 && (!stable || s.failures === 0)) return same(s);
		return { state: { ...s, healthFailures: 0, failures: stable ? 0 : s.failures }, effects: [] };
	}
	const failures = s.healthFailures + 1;
	if (failures < settings.healthFailures) {
		return {
			state: { ...s, healthFailures: failures },
			effects: [
				{
					type: "log",
					level: "warn",
					msg: "engine health check failed",
					fields: { failures, limit: settings.healthFailures, detail: input.detail },
				},
			],
		};
	}
	return recycle(
		{ ...s, healthFailures: failures },
		"unresponsive",
		`the engine failed ${failures} health checks in a row (${input.detail})`,
	);
}

function recycle(s: EngineState, cause: RecycleCause, reason: string): Transition {
	return {
		state: { ...s, phase: "recycling", feedConnected: false, recycle: { cause, reason } },
		effects: [
			{ type: "log", level: "warn", msg: "recycling the engine", fields: { cause, reason } },
			{ type: "countRecycle", cause },
			{ type: "closeFeed" },
			{ type: "kill" },
		],
	};
}

function exited(
	s: EngineState,
	input: Extract<LifecycleInput, { type: "exited" }>,
	settings: LifecycleSettings,
): Transition {
	const down = { ...s, feedConnected: false };
	switch (s.phase) {
		case "stopped":
		case "lost":
			return same(s);
		case "draining":
			return {
				state: { ...down, phase: "stopped" },
				effects: [
					{ type: "log", level: "info", msg: "engine stopped", fields: { code: input.code, signal: input.signal } },
				],
			};
		case "recycling": {
			const r = s.recycle ?? { cause: "memory" as const, reason: "recycled" };
			const reason = `engine recycled: ${r.reason}`;
			// A memory recycle is planned and restarts at once; an unresponsive engine backs off like a crash.
			if (r.cause === "memory")
				return restartAfter({ ...down, recycle: undefined, lastError: reason }, 0, [{ type: "lost", reason }]);
			return crashed({ ...down, recycle: undefined }, reason, settings, []);
		}
		default: {
			const bySignal =
				(input.signal !== null && STOP_SIGNALS.has(input.signal)) ||
				(input.code !== null && STOP_CODES.has(input.code));
			if (bySignal) {
				// Probably the sidecar's own stop signal reaching the engine first; `drain` or `settled` decides.
				return {
					state: {
						...down,
						phase: "lost",
						signalExit: { code: input.code, signal: input.signal },
						lastError: "engine exited on a signal",
					},
					effects: [{ type: "armSettle", delayMs: settings.signalSettleMs }],
				};
			}
			return crashed(down, `engine exited with code ${input.code ?? input.signal ?? "null"}`, settings, [
				{ type: "log", level: "error", msg: "engine exited", fields: { code: input.code, signal: input.signal } },
			]);
		}
	}
}

/** The process is gone unexpectedly: runs are told, and a new one starts after the back-off. */
function crashed(s: EngineState, reason: string, settings: LifecycleSettings, effects: LifecycleEffect[]): Transition {
	const delay = Math.min(settings.backoffMs * 2 ** s.failures, settings.maxBackoffMs);
	return restartAfter({ ...s, failures: s.failures + 1, lastError: reason }, delay, [
		...effects,
		{ type: "lost", reason },
	]);
}

function restartAfter(s: EngineState, delayMs: number, effects: LifecycleEffect[]): Transition {
	return {
		state: { ...s, phase: "lost", feedConnected: false, readyAt: undefined },
		effects: [
			...effects,
			{
				type: "log",
				level: "info",
				msg: "engine restart scheduled",
				fields: { delay_ms: delayMs, failures: s.failures },
			},
			{ type: "scheduleRestart", delayMs },
		],
	};
}

/** The watchdog's schedule (ENGINE_HEALTH_INTERVAL, ENGINE_HEALTH_TIMEOUT, ENGINE_HEALTH_FAILURES). */
export interface WatchdogSettings {
	readonly intervalMs: number;
	readonly timeoutMs: number;
	readonly failures: number;
}
