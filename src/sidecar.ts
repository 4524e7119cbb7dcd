import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type App, createApp } from "./app";
import type { Config } from "./config/parse";
import { CredentialsSource } from "./credentials/source";
import { buildEngineConfig } from "./engine/config";
import { EngineUse } from "./engine/engine-use";
import type { EngineRelease } from "./engine/generation";
import { recycleSettings } from "./engine/recycle-policy";
import { RssWatch } from "./engine/rss-watch";
import { EngineSupervisor } from "./engine/supervisor";
import { KeyRing } from "./gateway/key-ring";
import { type Gateway, startGateway } from "./gateway/server";
import { type KubernetesOverrides, startKubernetesReporter } from "./k8s/start";
import type { Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import { sampleEventLoop } from "./metrics/event-loop";
import { Metrics, rssBytes } from "./metrics/metrics";
import { resourceGauges } from "./metrics/resources";
import { RunTimings } from "./metrics/run-timings";
import { CgroupMemory } from "./resources/cgroup";
import { MemoryWatch } from "./resources/memory-watch";
import { OpenTools } from "./resources/open-tools";
import { descendants, treeMemory } from "./resources/process-tree";
import { EngineHome, EngineHomeGuard } from "./security/engine-home";
import { type Hardening, restrictDirectory } from "./security/harden";
import { storedDataKeys } from "./security/stored-mac";
import { describeTampering, type Tampering } from "./security/tampering";
import { SessionManager } from "./sessions/manager";
import { sessionsSettings } from "./sessions/settings";
import { SessionStore, type SessionStoreOptions } from "./sessions/store";
import { StreamHub } from "./sse/hub";
import { NO_TRACING, type Tracing } from "./telemetry/port";
import { VERSION } from "./version";

export interface Sidecar {
	readonly app: App;
	readonly sessions: SessionManager;
	readonly engine: EngineSupervisor;
	readonly gateway: Gateway;
	readonly streams: StreamHub;
	readonly metrics: Metrics;
	/** Readiness goes 503 and new sessions are refused; nothing else stops yet. */
	drain(): void;
	/** Ends streams, flushes state, stops the engine and the gateway. */
	stop(): Promise<void>;
}

/** What the sidecar is built with beyond its configuration; tests may replace the optional parts. */
export interface SidecarOptions {
	/** The engine `OPENCODE_BIN` is (engine/version-probe.ts): its generation picks the adapter. */
	readonly release: EngineRelease;
	readonly kubernetes?: KubernetesOverrides;
	/** What src/main.ts achieved hardening the process (undefined in-process: not reported). */
	readonly hardening?: Hardening;
	/** Maps the engine's `/event` URL to the one the supervisor reads (a test's proxy). */
	readonly engineFeedUrl?: (url: string) => string;
	/** How stored logs are opened (tests count opens) and how many stay indexed after a read. */
	readonly store?: SessionStoreOptions;
	/** Spans of every run (src/telemetry/load.ts); default off. The caller shuts it down. */
	readonly tracing?: Tracing;
	/** The container's memory cgroup (tests point one at a fixture directory). */
	readonly cgroup?: CgroupMemory;
}

/** Builds the whole sidecar from its configuration; the engine starts in the background. */
export function createSidecar(config: Config, clock: Clock, log: Logger, options: SidecarOptions): Sidecar {
	mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
	const stateDirProblem = restrictDirectory(config.stateDir);
	if (stateDirProblem) log.warn(stateDirProblem);
	// Records and logs are signed under keys derived from the shared secret (random without one): see stored-mac.ts.
	const store = new SessionStore(config.stateDir, { keys: storedDataKeys(config.sharedSecret), ...options.store });
	// The one holder of the sessions' keys: the sessions layer writes it, the gateway reads it.
	const keyRing = new KeyRing();
	const gatewayToken = randomBytes(24).toString("base64url");
	const hardening = options.hardening;
	const hardeningWarning = hardening?.problem
		? `${hardening.dumpable ? "process is dumpable: the agent's tools may read its memory (API keys, shared secret)" : "process hardening incomplete"}: ${hardening.problem}`
		: undefined;
	if (hardeningWarning) log.warn({ dumpable: hardening?.dumpable }, hardeningWarning);
	const engineDir = join(config.stateDir, "engine");
	// The engine's home and config home: out of STATE_DIR, rebuilt at each engine start (security/engine-home.ts).
	// The home older versions kept in STATE_DIR is read no more; whatever was left there goes.
	rmSync(join(engineDir, "home"), { recursive: true, force: true });
	const engineHome = new EngineHome(mkdtempSync(join(tmpdir(), "opencode-sidecar-engine-home-")), config.engineSeedDir);
	// Built first: every part below counts into it; each registers what the gauges read once it exists.
	const metrics = new Metrics({ processSeries: true });
	if (hardening) metrics.observe({ processDumpable: () => Number(hardening.dumpable) });
	const timings = new RunTimings(metrics.runDuration, metrics.firstOutput);
	const tracing = options.tracing ?? NO_TRACING;
	tracing.onDropped((reason, count) => metrics.traceSpansDropped.inc({ reason }, count));
	// Listens now (the engine's configuration needs its URL); forwards calls once `serve` names the sessions.
	const gateway = startGateway({
		token: gatewayToken,
		log: log.child({ component: "gateway" }),
		idleTimeoutMs: config.providerIdleTimeoutMs,
		clock,
		tracing,
		observer: {
			call: (provider, status, ms) => metrics.llmCall(provider, status, ms),
			tokens: (provider, counts) => {
				metrics.llmTokens.inc({ provider, kind: "input" }, counts.input);
				metrics.llmTokens.inc({ provider, kind: "output" }, counts.output);
			},
		},
	});
	const engine = new EngineSupervisor({
		bin: config.engineBin,
		release: options.release,
		workspaceDir: config.workspaceDir,
		engineDir,
		config: buildEngineConfig(gateway.url, gatewayToken),
		home: engineHome,
		startTimeoutMs: config.engineStartTimeoutMs,
		log: log.child({ component: "engine" }),
		clock,
		watchdog: {
			intervalMs: config.engineHealthIntervalMs,
			timeoutMs: config.engineHealthTimeoutMs,
			failures: config.engineHealthFailures,
		},
		feedIdleLimitMs: config.engineEventIdleTimeoutMs,
		callTimeoutMs: config.engineCallTimeoutMs,
		onRecycle: (cause) => metrics.engineRecycles.inc({ reason: cause }),
		...(options.engineFeedUrl ? { feedUrl: options.engineFeedUrl } : {}),
	});
	engine.onLost(() => metrics.engineRestarts.inc());
	metrics.observe({ enginePid: () => engine.pid });
	const openTools = new OpenTools();
	const sessions = new SessionManager({
		keyRing,
		settings: sessionsSettings(config),
		store,
		engine,
		clock,
		log: log.child({ component: "sessions" }),
		tracing,
		onStored: (e, record) => {
			metrics.eventsStored.inc({ event: e.event });
			timings.stored(e, record);
			tracing.stored(record.session_id, e);
			openTools.stored(record.session_id, e);
		},
		onTampering: (t) => reportTampering(t),
		...(config.credentialsUrl && config.sharedSecret
			? {
					credentials: new CredentialsSource({
						url: config.credentialsUrl,
						secret: config.sharedSecret,
						timeoutMs: config.credentialsTimeoutMs,
						clock,
						tracing,
					}),
				}
			: {}),
	});
	metrics.observe({
		sessionStatuses: () => sessions.list().map((s) => s.record.status),
		runsInProgress: () => sessions.runningCount,
	});
	const homeGuard = new EngineHomeGuard({
		home: engineHome,
		recycle: (reason) => engine.recycle(reason),
		onLost: (listener) => engine.onLost(listener),
		report: (path) => reportTampering({ what: "engine_home", path }),
	});
	gateway.serve({
		resolve: async (engineSessionId) => {
			// A call built from a configuration home the agent changed is never forwarded.
			const held = homeGuard.check();
			if (held) {
				await held;
				return undefined;
			}
			return sessions.resolveCredentials(engineSessionId);
		},
		...(config.credentialsUrl && config.sharedSecret
			? { renew: (engineSessionId: string, rejected: string) => sessions.renewKey(engineSessionId, rejected) }
			: {}),
		expectedRefusal: (engineSessionId) => engine.isWarmUpSession(engineSessionId),
	});
	// What the gateway reports about provider calls, routed by engine session (subscribed once).
	gateway.onSignal((signal) => sessions.onGatewaySignal(signal));
	// Subscribed before init, which ends runs cut short by a restart (`interrupted`).
	const reporter = startKubernetesReporter(
		{
			config: {
				kubernetesReporter: config.kubernetesReporter,
				podName: config.podName,
				podNamespace: config.podNamespace,
				podUid: config.podUid,
			},
			clock,
			log: log.child({ component: "kubernetes" }),
			sessions: () => sessions.list().map((s) => ({ id: s.id, status: s.record.status, active: !s.ended })),
		},
		options.kubernetes,
	);
	if (reporter) sessions.onLifecycle((e) => reporter.record(e));
	// Stored data that failed verification: a log line, a metric and an Event, once where it is found.
	function reportTampering(t: Tampering): void {
		const message = describeTampering(t);
		const { what, ...fields } = t;
		// Without OPENCODE_SHARED_SECRET an earlier process's records cannot be checked: expected after every
		// restart in that phase, so a warning line only; no metric, no Event (they are for what failed a check).
		if (t.what === "record" && !t.checkable) {
			log.warn(fields, message);
			return;
		}
		log.error(fields, message);
		metrics.storedDataUnverified.inc({ kind: what });
		// The Event is labelled by session; the engine's home is no session's.
		const session_id = "session_id" in t ? t.session_id : "engine-home";
		reporter?.record({ session_id, status: "unverified", code: what, message });
	}
	const loading = clock.now();
	sessions.init();
	// Start costs O(running sessions): this says what it cost (ended sessions are read from their records only).
	log.info({ sessions: sessions.list().length, load_ms: Math.round(clock.now() - loading) }, "stored sessions loaded");
	const streams = new StreamHub({
		heartbeatMs: config.heartbeatIntervalMs,
		maxQueuedBytes: config.streamBufferBytes,
		retryMs: 2000,
		clock,
		onReplay: (n) => metrics.eventsReplayed.inc(n),
		onHeartbeat: () => metrics.heartbeats.inc(),
		onDropped: () => metrics.subscribersDropped.inc(),
		onUnverified: (session_id, event_id) => reportTampering({ what: "log", session_id, event_id }),
	});
	metrics.observe({ subscribers: () => streams.size });
	let draining = false;
	const app = createApp({
		sessions,
		streams,
		clock,
		log,
		maxBodyBytes: config.maxBodyBytes,
		sharedSecret: config.sharedSecret,
		version: VERSION,
		metrics,
		maxSubscribersPerSession: config.maxSubscribersPerSession,
		allowedHosts: [...config.allowedHosts, config.podName, config.hostName],
		readiness: {
			workspaceDir: config.workspaceDir,
			stateDir: config.stateDir,
			draining: () => draining,
			warnings: () => (hardeningWarning ? [hardeningWarning] : []),
			engineProblem: async () => {
				if (!engine.ready) return engine.notReadyReason ?? "engine not ready";
				return (await engine.healthy()) ? undefined : "engine did not answer its health check";
			},
		},
	});
	const cgroup = options.cgroup ?? new CgroupMemory();
	// The agent's tools are the engine's children (bash and what it starts).
	const toolMemory = () => {
		const pid = engine.pid;
		return pid === undefined ? { bytes: 0, processes: 0 } : treeMemory(descendants(pid));
	};
	metrics.include(
		resourceGauges({
			tools: toolMemory,
			containerUsage: () => cgroup.usage(),
			containerLimit: () => cgroup.limit(),
		}),
	);
	const memoryWatch = new MemoryWatch({
		intervalMs: 5000,
		thresholdPercent: config.memoryWarningPercent,
		clock,
		sample: () => {
			// memory.current also counts page cache, so it is usually the larger; this process tree's own
			// figure covers a cgroup whose usage cannot be read.
			const tree = treeMemory([process.pid, ...descendants(process.pid)]).bytes;
			return { usage: Math.max(cgroup.usage() ?? 0, tree), limit: cgroup.limit(), tools: toolMemory().bytes };
		},
		warn: (message) => {
			const withTools = openTools.sessions();
			const running = sessions
				.list()
				.filter((s) => !s.ended)
				.map((s) => s.id);
			const targets = withTools.length > 0 ? withTools : running;
			log.warn({ sessions: targets }, message);
			for (const id of targets) sessions.warn(id, "memory_pressure", message);
		},
	});
	const recycling = recycleSettings(config, cgroup.limit(), 10 * 60_000);
	log.info({ container_limit: cgroup.limit() ?? null, ...recycling }, "engine recycle policy");
	const engineUse = new EngineUse(engine, sessions, () => rssBytes(engine.pid));
	const rssWatch = new RssWatch({
		...recycling,
		intervalMs: 30_000,
		clock,
		readRss: () => rssBytes(engine.pid),
		busy: () => sessions.runningCount > 0,
		restRss: () => engineUse.restRss,
		runs: () => engineUse.runs,
		recycle: (reason) => engine.recycle(reason),
	});
	// Nothing samples at rest: the engine's memory and the event loop are watched while runs are in progress,
	// and the engine's memory checked once more when the last one ends (a soft-limit recycle happens then).
	sessions.activity.onChange((busy) => {
		sampleEventLoop(busy);
		if (busy) {
			rssWatch.start();
			memoryWatch.start();
		} else {
			memoryWatch.close();
			rssWatch.close();
			if (!draining) rssWatch.check();
		}
	});
	engine.start();
	if (sessions.activity.busy) {
		sampleEventLoop(true);
		rssWatch.start();
		memoryWatch.start();
	}
	return {
		app,
		sessions,
		engine,
		gateway,
		streams,
		metrics,
		drain() {
			draining = true;
			rssWatch.close();
			sessions.drain();
			engine.drain();
		},
		async stop() {
			draining = true;
			rssWatch.close();
			memoryWatch.close();
			engine.drain();
			sessions.close();
			streams.closeAll();
			await engine.stop();
			engineHome.remove();
			await reporter?.stop();
			await gateway.stop();
		},
	};
}
