import type { Cancel, Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import type { EngineAdapter, EngineApi } from "./adapter";
import { adapterFor } from "./adapters";
import type { Engine } from "./engine";
import { EngineCalls } from "./engine-calls";
import type { RebuiltHome } from "./environment";
import type { EngineEvent } from "./events";
import { EventFeed } from "./feed";
import type { EngineRelease } from "./generation";
import {
	type EngineState,
	engineTransition,
	initialEngineState,
	isLive,
	type LifecycleEffect,
	type LifecycleInput,
	type LifecycleSettings,
	pendingStartStep,
	type RecycleCause,
	type WatchdogSettings,
} from "./lifecycle";
import { bunSpawn, type EngineProcess, launchEngine, type Spawn } from "./process";
import { ResyncGate } from "./resync-gate";
import { WarmUp } from "./warm-up";

export interface EngineSupervisorOptions {
	readonly bin: string;
	/** What `bin --version` said (version-probe.ts): its generation picks the adapter. */
	readonly release: EngineRelease;
	readonly workspaceDir: string;
	/** The engine's own home, config, data and cache live under here. */
	readonly engineDir: string;
	/** The engine's configuration (OPENCODE_CONFIG_CONTENT). Holds no session secret. */
	readonly config: Record<string, unknown>;
	/** Its home and configuration home, rebuilt before each start (default: under `engineDir`). */
	readonly home?: RebuiltHome;
	readonly startTimeoutMs: number;
	readonly log: Logger;
	readonly clock: Clock;
	/** First restart delay; doubles per failure up to `maxBackoffMs`. */
	readonly backoffMs?: number;
	readonly maxBackoffMs?: number;
	/** Default: 5 s, 3 s, 3 failures. */
	readonly watchdog?: WatchdogSettings;
	/** ENGINE_EVENT_IDLE_TIMEOUT; default 30 s (three missed engine heartbeats). */
	readonly feedIdleLimitMs?: number;
	/** Bound of one engine call (ENGINE_CALL_TIMEOUT); default 10 s. */
	readonly callTimeoutMs?: number;
	/** Starts the engine process; default `Bun.spawn`. */
	readonly spawn?: Spawn;
	/** Maps the engine's `/event` URL to the one the feed reads (tests put a proxy in between). */
	readonly feedUrl?: (url: string) => string;
	/** Told about each recycle (for metrics). */
	readonly onRecycle?: (cause: RecycleCause) => void;
}

/** SIGKILL follows SIGTERM after this long: a stopped (SIGSTOP) or wedged engine never acts on SIGTERM. */
const KILL_GRACE_MS = 2000;
/** How long an engine that exited on SIGTERM/SIGINT waits for the sidecar's own drain (see lifecycle.ts). */
const SIGNAL_SETTLE_MS = 1000;
/** An engine ready this long is stable: its next crash restarts without back-off. */
const STABLE_MS = 60_000;

/**
 * Runs `opencode serve` on loopback with a random password and keeps it
 * usable: its process (process.ts), its `/event` feed (feed.ts), its API
 * (client.ts), and its lifecycle (lifecycle.ts, a pure state machine whose
 * effects this class carries out). A watchdog checks `/global/health` once the
 * engine has been silent for a check interval (its feed's bytes, a heartbeat
 * every 10 s and every event of a run, are proof of life enough) and recycles
 * an engine that stops answering.
 */
export class EngineSupervisor extends EngineCalls implements Engine {
	private state: EngineState = initialEngineState;
	private readonly settings: LifecycleSettings;
	private readonly watchdog: WatchdogSettings;
	private proc: EngineProcess | undefined;
	private client: EngineApi | undefined;
	/** The adapter of the engine's generation (adapter.ts). */
	readonly adapter: EngineAdapter;
	private feed: EventFeed | undefined;
	/** The current engine process's warm-up (see warm-up.ts); undefined before it connects. */
	private warming: Promise<void> | undefined;
	private readonly warmUp: WarmUp;
	private cancelRestart: Cancel | undefined;
	private cancelSettle: Cancel | undefined;
	/** The current start step's ENGINE_START_TIMEOUT (see `apply`). */
	private cancelStartDeadline: Cancel | undefined;
	private stopWatchdog: Cancel | undefined;
	private checking = false;
	/** When the current engine last showed it is alive: a byte on its feed, or a health check it passed. */
	private aliveAt = Number.NEGATIVE_INFINITY;
	private readonly gate = new ResyncGate();
	private readyWaiters: (() => void)[] = [];
	/** Engine processes started so far (1 after the first start). */
	starts = 0;
	/** Health checks the watchdog has sent so far (at rest: about one per engine heartbeat at most). */
	healthChecks = 0;

	constructor(private readonly options: EngineSupervisorOptions) {
		super();
		this.settings = {
			backoffMs: options.backoffMs ?? 500,
			maxBackoffMs: options.maxBackoffMs ?? 30_000,
			healthFailures: options.watchdog?.failures ?? 3,
			stableMs: STABLE_MS,
			signalSettleMs: SIGNAL_SETTLE_MS,
		};
		this.watchdog = options.watchdog ?? { intervalMs: 5000, timeoutMs: 3000, failures: 3 };
		this.adapter = adapterFor(options.release.generation);
		this.warmUp = new WarmUp({
			limitMs: options.startTimeoutMs,
			clock: options.clock,
			log: options.log,
		});
	}

	get phase(): EngineState["phase"] {
		return this.state.phase;
	}

	get ready(): boolean {
		return isLive(this.state) && this.client !== undefined;
	}

	get notReadyReason(): string | undefined {
		if (this.ready) return undefined;
		const s = this.state;
		if ((s.phase === "warming" || s.phase === "ready") && !s.feedConnected)
			return `engine event stream is not connected${s.feedError ? ` (${s.feedError})` : ""}`;
		return `engine is ${s.phase}${s.lastError ? ` (${s.lastError})` : ""}`;
	}

	/** The engine's process id, for memory readings. */
	get pid(): number | undefined {
		return this.proc?.pid;
	}

	/** True for the engine session of the warm-up prompt (its LLM call is refused by design). */
	isWarmUpSession(engineSessionId: string): boolean {
		return this.warmUp.owns(engineSessionId);
	}

	/** Starts the engine in the background; `whenReady` resolves once it is usable. */
	start(): void {
		this.apply({ type: "start" });
		if (!this.stopWatchdog) this.armWatchdog(this.watchdog.intervalMs);
	}

	/** Resolves once the current engine has run its warm-up (at once if it has, or if there is no engine). */
	whenWarm(): Promise<void> {
		return this.warming ?? Promise.resolve();
	}

	whenReady(): Promise<void> {
		if (this.ready) return Promise.resolve();
		return new Promise((resolve) => this.readyWaiters.push(resolve));
	}

	/** Answers the engine's own health check (for `/ready`). */
	async healthy(timeoutMs = 2000): Promise<boolean> {
		if (!this.client || !this.ready) return false;
		return this.client.health(timeoutMs);
	}

	/** The sidecar is stopping: an engine exit from now on is the shutdown, not a crash. */
	drain(): void {
		this.apply({ type: "drain" });
	}

	/** Stops the engine: SIGTERM, then SIGKILL after `graceMs`. */
	async stop(graceMs = 3000): Promise<void> {
		this.stopWatchdog?.();
		this.stopWatchdog = undefined;
		// Terminated first, so the SIGKILL comes after `graceMs` rather than the recycle's grace.
		const exited = this.proc?.terminate(graceMs);
		this.apply({ type: "stop" });
		await exited;
		// Nothing was running (between restarts): there is no exit to wait for.
		if (this.state.phase !== "stopped") {
			this.apply({ type: "exited", generation: this.state.generation, code: null, signal: null });
		}
	}

	/**
	 * Replaces the engine process at once (memory recycling): its runs are
	 * told it was lost, and the new process starts without back-off.
	 */
	recycle(reason: string): void {
		this.apply({ type: "recycle", cause: "memory", reason });
	}

	/** Signals the engine process as a crash or a hang would (for fault tests). */
	kill(signal: NodeJS.Signals = "SIGKILL"): void {
		this.proc?.kill(signal);
	}

	/**
	 * Where the engine listens and how to authenticate, for diagnostics and
	 * benchmarks that need their own view of it; undefined until it listens.
	 */
	connection(): { url: string; authorization: string } | undefined {
		return this.client ? { url: this.client.base, authorization: this.client.authorization } : undefined;
	}

	private apply(input: LifecycleInput): void {
		const before = this.state;
		const { state, effects } = engineTransition(before, input, this.settings);
		this.state = state;
		// Each step of a start (listening, feed, warm-up) gets ENGINE_START_TIMEOUT; ready ends the clock.
		const step = pendingStartStep(state);
		if (step !== pendingStartStep(before) || state.generation !== before.generation) {
			this.cancelStartDeadline?.();
			this.cancelStartDeadline = undefined;
			if (step) {
				const generation = state.generation;
				const timeoutMs = this.options.startTimeoutMs;
				this.cancelStartDeadline = this.options.clock.setTimeout(
					() => this.apply({ type: "startTimedOut", generation, timeoutMs }),
					timeoutMs,
				);
			}
		}
		if (state.phase !== before.phase)
			this.options.log.debug({ from: before.phase, to: state.phase, input: input.type }, "engine phase");
		for (const effect of effects) this.run(effect);
	}

	private run(effect: LifecycleEffect): void {
		const { clock, log } = this.options;
		switch (effect.type) {
			case "spawn":
				void this.launch(effect.generation);
				break;
			case "connectFeed":
				void this.follow(this.state.generation);
				break;
			case "closeFeed":
				this.feed?.close();
				this.feed = undefined;
				break;
			case "warmUp":
				if (this.client) {
					const generation = this.state.generation;
					this.warming = this.warmUp
						.run(this.client)
						.then(() => this.apply({ type: "warmedUp", generation, at: clock.now() }));
				}
				break;
			case "kill":
				this.cancelStartDeadline?.();
				void this.proc?.terminate(KILL_GRACE_MS);
				break;
			case "scheduleRestart":
				this.cancelRestart?.();
				this.cancelRestart = clock.setTimeout(() => {
					this.cancelRestart = undefined;
					this.apply({ type: "restartDue" });
				}, effect.delayMs);
				break;
			case "cancelRestart":
				this.cancelRestart?.();
				this.cancelRestart = undefined;
				this.cancelSettle?.();
				this.cancelSettle = undefined;
				break;
			case "armSettle": {
				const generation = this.state.generation;
				this.cancelSettle = clock.setTimeout(() => this.apply({ type: "settled", generation }), effect.delayMs);
				break;
			}
			case "resync":
				this.resync();
				break;
			case "ready":
				void this.gate.settled.then(() => this.becameReady());
				break;
			case "lost":
				this.forgetProcess();
				for (const l of this.lostListeners) l(effect.reason);
				break;
			case "countRecycle":
				this.options.onRecycle?.(effect.cause);
				break;
			case "log":
				log[effect.level](
					{ ...effect.fields, ...(effect.level === "error" ? { stderr_tail: this.proc?.tail.slice(-5) } : {}) },
					effect.msg,
				);
				break;
		}
	}

	private async launch(generation: number): Promise<void> {
		const { clock, log } = this.options;
		let launched: Awaited<ReturnType<typeof launchEngine>>;
		try {
			launched = await launchEngine(
				{ ...this.options, serveArgs: this.adapter.serveArgs, spawn: this.options.spawn ?? bunSpawn },
				() => this.state.generation === generation && this.state.phase === "starting",
			);
		} catch (error) {
			const message = error instanceof Error ? error.message : String(error);
			this.apply({ type: "spawnFailed", error: `could not start ${this.options.bin}: ${message}` });
			return;
		}
		if (!launched) return;
		const { proc, authorization } = launched;
		this.proc = proc;
		this.starts++;
		const started = clock.now();
		log.info(
			{ pid: proc.pid, attempt: this.state.failures + 1, version: this.options.release.version },
			"engine starting",
		);
		void proc.exited.then(({ code, signal }) => {
			if (this.state.generation === generation) {
				this.feed?.close();
				this.feed = undefined;
			}
			this.apply({ type: "exited", generation, code, signal });
		});
		let base: string;
		try {
			base = await proc.listening;
		} catch {
			return; // It exited first: `exited` tells the lifecycle.
		}
		if (this.state.generation !== generation) return;
		this.client = this.adapter.client({
			base,
			authorization,
			directory: this.options.workspaceDir,
			clock,
			callTimeoutMs: this.options.callTimeoutMs ?? 10_000,
		});
		log.info({ pid: proc.pid, start_ms: clock.now() - started }, "engine listening");
		this.apply({ type: "listening", generation });
	}

	/** Reads the feed of one process until it is closed or the process is replaced. */
	private async follow(generation: number): Promise<void> {
		const client = this.client;
		if (!client) return;
		const url = this.adapter.feedUrl(client.base, this.options.workspaceDir);
		const feed = new EventFeed({
			url: this.options.feedUrl ? this.options.feedUrl(url) : url,
			parse: this.adapter.feedReader(this.options.workspaceDir),
			authorization: client.authorization,
			idleLimitMs: this.options.feedIdleLimitMs ?? 30_000,
			retryMs: 200,
			clock: this.options.clock,
			onRead: () => {
				if (this.state.generation === generation) this.aliveAt = this.options.clock.now();
			},
		});
		this.feed?.close();
		this.feed = feed;
		for await (const item of feed) {
			if (this.state.generation !== generation) break;
			if (item.kind === "connected") this.apply({ type: "feedConnected", generation });
			else if (item.kind === "lost") this.apply({ type: "feedLost", generation, reason: item.reason });
			else if (!this.gate.hold(item.events)) this.dispatch(item.events);
		}
		feed.close();
	}

	/** The feed came back: the sessions reconcile before live events flow again (resync-gate.ts). */
	private resync(): void {
		const { log } = this.options;
		const tasks = [...this.resyncListeners].map(
			(l) => () => l().catch((error: unknown) => log.warn({ err: String(error) }, "engine resync failed")),
		);
		this.gate.open(tasks, (batch) => this.dispatch(batch));
	}

	private dispatch(batch: readonly EngineEvent[]): void {
		const events = batch.filter((event) => !this.warmUp.absorb(event));
		if (events.length === 0) return;
		for (const l of this.eventListeners) {
			try {
				l(events);
			} catch (error) {
				this.options.log.error({ err: String(error), events: events.length }, "engine event listener failed");
			}
		}
	}

	private becameReady(): void {
		if (!this.ready) return;
		this.options.log.info("engine ready");
		const waiters = this.readyWaiters;
		this.readyWaiters = [];
		for (const w of waiters) w();
		for (const l of this.readyListeners) l();
	}

	/** The watchdog's next tick in `delayMs` (one timer, re-armed by each tick until `stop`). */
	private armWatchdog(delayMs: number): void {
		this.stopWatchdog = this.options.clock.setTimeout(() => void this.check(), Math.max(0, delayMs));
	}

	/**
	 * One watchdog tick: a health check of a warmed-up engine that has shown no
	 * sign of life for an interval, unless one is still in flight. A byte on
	 * the feed postpones the check (it does not clear failed ones: only a
	 * passed check does); the next tick is an interval after this one, as with
	 * a fixed schedule, so a frozen engine is found as fast as before.
	 */
	private async check(): Promise<void> {
		const { clock } = this.options;
		const { intervalMs, timeoutMs } = this.watchdog;
		const tick = clock.now();
		const quiet = tick - this.aliveAt;
		const client = this.client;
		if (this.checking || !client || this.state.phase !== "ready" || quiet < intervalMs) {
			this.armWatchdog(quiet < intervalMs && !this.checking ? intervalMs - quiet : intervalMs);
			return;
		}
		this.checking = true;
		this.armWatchdog(intervalMs);
		const generation = this.state.generation;
		try {
			const ok = await client.health(timeoutMs);
			const detail = ok ? "healthy" : `${this.adapter.healthCall} failed or took over ${timeoutMs} ms`;
			if (ok && this.state.generation === generation) this.aliveAt = Math.max(this.aliveAt, tick);
			this.healthChecks++;
			this.apply({ type: "health", generation, ok, detail, at: clock.now() });
		} finally {
			this.checking = false;
		}
	}

	private forgetProcess(): void {
		this.feed?.close();
		this.feed = undefined;
		this.proc = undefined;
		this.client = undefined;
		this.aliveAt = Number.NEGATIVE_INFINITY;
		this.warming = undefined;
		this.gate.drop();
	}

	protected api(): EngineApi {
		if (!this.client || !this.ready) throw new Error(this.notReadyReason ?? "engine not ready");
		return this.client;
	}
}
