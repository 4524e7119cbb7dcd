import type { CredentialsSource } from "../credentials/source";
import type { Engine } from "../engine/engine";
import type { EngineEvent } from "../engine/events";
import { refusedTool } from "../engine/tools";
import { RunTranslator, type TranslatorOptions } from "../engine/translate";
import type { StoredEvent } from "../events/catalogue";
import { EventChannel } from "../events/channel";
import type { GatewaySignal, SessionCredentials } from "../gateway/credentials";
import type { KeyRing } from "../gateway/key-ring";
import { CapacityExceeded, EngineUnavailable, SessionExists, ShuttingDown, ValidationFailed } from "../http/errors";
import type { Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import type { Logger } from "../lib/log";
import { withTimeout } from "../lib/timeout";
import { PROVIDERS } from "../providers/catalogue";
import { callSettingsOf } from "../providers/model-config";
import type { Tampering } from "../security/tampering";
import type { TraceHeaders, Tracing } from "../telemetry/port";
import { RunActivity } from "./activity";
import { AgentCatalogue, type ChosenAgent } from "./agents";
import { type ConversationMessage, toConversation } from "./conversation";
import { type FileChange, sessionChanges } from "./diff";
import { CredentialsUnavailable, SessionNotContinuable, SessionUnverified } from "./errors";
import { RunExecutor } from "./executor";
import { SessionKeys } from "./keys";
import { type LifecycleEvent, LifecycleObservers } from "./observers";
import { Reconciler } from "./reconcile";
import type { SessionRecord } from "./record";
import { SessionRegistry } from "./registry";
import { EngineRouter } from "./router";
import type { CancelResponse, CreateSessionBody, SessionStatus } from "./schemas";
import { Session } from "./session";
import type { SessionsSettings } from "./settings";
import type { SessionStore } from "./store";
import { WorkspaceRuns, workspaceTracker } from "./workspace-runs";

export type { LifecycleEvent } from "./observers";

export interface SessionManagerDeps {
	/** Its slice of the configuration, cut at the composition root (`sessionsSettings`). */
	readonly settings: SessionsSettings;
	readonly store: SessionStore;
	readonly engine: Engine;
	readonly clock: Clock;
	readonly log: Logger;
	/** Told about every stored event and the session it belongs to (for metrics). */
	readonly onStored?: (event: StoredEvent, record: SessionRecord) => void;
	/** CREDENTIALS_URL: where keys this process does not hold are fetched (after a restart, after a 401). */
	readonly credentials?: CredentialsSource;
	/** Told about stored data that failed verification (reported as a log line, a metric and an Event). */
	readonly onTampering?: (t: Tampering) => void;
	/** Told of every run's requests and steps, for its spans (off: nothing). */
	readonly tracing?: Tracing;
	/** The one holder of the sessions' keys (made at the composition root; the gateway reads it). */
	readonly keyRing: KeyRing;
}

/**
 * The sessions service, a thin layer over the registry of sessions, each session's run state
 * machine (run-machine.ts, applied by executor.ts) and the router of engine events and gateway
 * signals (router.ts). Routes call it with plain values.
 */
export class SessionManager {
	private readonly registry = new SessionRegistry();
	private readonly observers: LifecycleObservers;
	private readonly executor: RunExecutor;
	private readonly router: EngineRouter;
	private readonly keys: SessionKeys;
	/** Checks the `agent` a request names (routes call it before `create` / `followUp`). */
	readonly agents: AgentCatalogue;
	private readonly workspace: WorkspaceRuns;
	private readonly reconciler: Reconciler;
	private readonly unsubscribe: (() => void)[] = [];
	private closing = false;
	private stopSync: (() => void) | undefined;
	/** Whether a run is in progress; told on each change (what periodic work keys on). */
	readonly activity = new RunActivity(() => this.runningCount);

	constructor(private readonly deps: SessionManagerDeps) {
		const { registry } = this;
		const { settings } = deps;
		this.agents = new AgentCatalogue(deps.engine, settings.engineCallTimeoutMs, deps.clock);
		const tracker = workspaceTracker({ ...deps, settings: settings.workspace }, () =>
			[...registry.all()].map((s) => s.id),
		);
		this.workspace = new WorkspaceRuns({ tracker, registry, log: deps.log });
		this.observers = new LifecycleObservers(deps.log);
		this.observers.add(() => this.activity.update());
		this.executor = new RunExecutor({
			...deps,
			settings: settings.executor,
			registry,
			observers: this.observers,
			workspace: this.workspace,
		});
		this.router = new EngineRouter({ ...deps, registry, executor: this.executor });
		this.keys = new SessionKeys({
			...deps,
			resumeInterrupted: settings.resumeInterrupted,
			registry,
			executor: this.executor,
			verified: (id) => deps.store.verified(id),
		});
		this.reconciler = new Reconciler({
			engine: deps.engine,
			log: deps.log,
			sessions: () => registry.all(),
			apply: (events) => this.onEngineEvents(events),
			dispatch: (session, input) => void this.executor.dispatch(session, input),
		});
	}

	/** Loads stored sessions and starts listening to the engine. */
	init(): void {
		const { loaded, broken } = this.deps.store.loadAll();
		for (const b of broken)
			this.deps.log.error({ session_id: b.id, reason: b.reason }, "stored session unreadable; skipped");
		for (const { record, log, recovery, problem } of loaded) {
			if (problem) {
				const checkable = this.deps.store.keys.stable;
				this.deps.onTampering?.({ what: "record", session_id: record.session_id, problem, checkable });
			}
			if (recovery.discardedBytes > 0) {
				this.deps.log.warn(
					{ session_id: record.session_id, discarded_bytes: recovery.discardedBytes },
					"torn event record discarded",
				);
			}
			if (recovery.migrated)
				this.deps.log.info({ session_id: record.session_id, events: recovery.events }, "event log migrated to frames");
			const session = this.newSession(record, new EventChannel(log, this.storedHook(record)));
			this.registry.add(session);
			if (!session.ended) this.keys.afterRestart(session);
		}
		this.executor.prune();
		const { engine } = this.deps;
		this.unsubscribe.push(engine.onEvents((batch) => this.onEngineEvents(batch)));
		this.unsubscribe.push(engine.onLost((reason) => this.onEngineLost(reason)));
		this.unsubscribe.push(engine.onReady(() => this.onEngineReady()));
		// Whatever the engine did while its event feed was down (see reconcile.ts).
		this.unsubscribe.push(engine.onResync(() => this.reconciler.run()));
		// Events are written to the kernel at once; flush running logs to disk every second while runs are in progress.
		this.unsubscribe.push(this.activity.onChange((busy) => this.syncWhile(busy)));
		this.activity.update();
	}

	private syncWhile(busy: boolean): void {
		this.stopSync?.();
		this.stopSync = undefined;
		if (busy) {
			this.stopSync = this.deps.clock.setInterval(() => {
				for (const s of this.registry.all()) if (!s.ended) s.channel.log.sync();
			}, 1000);
		}
	}

	/** A run's translator: made when the run starts and let go when it ends (see Session.translator); one for all sessions. */
	private readonly translatorFor = (initial: NonNullable<TranslatorOptions["initial"]>) =>
		new RunTranslator({
			workspaceDir: this.deps.settings.workspace.workspaceDir,
			redact: (text) => this.keys.redactAll(text),
			initial,
		});

	private newSession(record: SessionRecord, channel: EventChannel): Session {
		return new Session(record, channel, this.translatorFor, this.deps.store);
	}

	private storedHook(record: SessionRecord): ((event: StoredEvent) => void) | undefined {
		const onStored = this.deps.onStored;
		return onStored && ((event) => onStored(event, record));
	}

	/** Observes runs starting and ending. Listener errors are logged and ignored. */
	onLifecycle(listener: (e: LifecycleEvent) => void): () => void {
		return this.observers.add(listener);
	}

	/** Resolves when background work started so far is done: logs' flushes and closes, workspace git calls (for tests). */
	async settled(): Promise<void> {
		await Promise.all([...this.registry.all()].map((s) => s.channel.log.settled()));
		await this.workspace.settled();
	}

	/** Every session, newest first. */
	list(): Session[] {
		return this.registry.list();
	}

	get runningCount(): number {
		return this.registry.runningCount;
	}

	get(id: string): Session {
		return this.registry.get(id);
	}

	status(id: string): SessionStatus {
		return this.get(id).status();
	}

	private admit(): void {
		const { settings, engine } = this.deps;
		if (this.closing) throw new ShuttingDown();
		if (this.runningCount >= settings.maxConcurrentSessions)
			throw new CapacityExceeded(settings.maxConcurrentSessions, 30);
		if (!engine.ready) throw new EngineUnavailable(engine.notReadyReason ?? "not ready");
	}

	/**
	 * Registers and starts a session and answers at once: the run is stored and
	 * its first event (`status: running`) logged before this returns; the
	 * engine session is created and prompted right after (see executor.ts). An
	 * engine that is known to be down is refused here with 503; one that
	 * refuses the run ends it `failed` with `engine_unavailable`.
	 */
	create(body: CreateSessionBody, agent?: ChosenAgent, trace: TraceHeaders = {}): SessionStatus {
		const { clock, log } = this.deps;
		const mc = body.model_config;
		const refused = refusedTool(mc.enabled_tools);
		if (refused) throw new ValidationFailed("model_config.enabled_tools", refused.reason);
		const endpoint = (mc.api_endpoint ?? PROVIDERS[mc.provider].defaultEndpoint)?.replace(/\/+$/, "");
		if (!endpoint) throw new ValidationFailed("model_config.api_endpoint", `is required for provider ${mc.provider}`);
		const existing = this.registry.find(body.session_id);
		if (existing) throw new SessionExists(existing.status());
		this.admit();

		const now = isoTime(clock.now());
		const record: SessionRecord = {
			session_id: body.session_id,
			engine_session_id: null,
			status: "pending",
			provider: mc.provider,
			model: mc.model,
			...(mc.model_version === undefined ? {} : { model_version: mc.model_version }),
			enabled_tools: [...mc.enabled_tools],
			...(agent ? { agent: agent.name, read_only: agent.readOnly } : {}),
			...callSettingsOf(mc),
			...(mc.api_endpoint !== undefined && storableEndpoint(mc.api_endpoint) ? { api_endpoint: mc.api_endpoint } : {}),
			...(body.system_prompt === undefined ? {} : { system_prompt: body.system_prompt }),
			created_at: now,
			started_at: null,
			updated_at: now,
			ended_at: null,
			cancelled_at: null,
			files_modified: [],
		};
		// Registered at once, so a concurrent duplicate gets 409 and capacity holds.
		const session = this.newSession(record, new EventChannel(this.deps.store.create(record), this.storedHook(record)));
		this.registry.add(session);
		this.keys.hold(this.keys.build(session, mc, endpoint));
		this.deps.tracing?.requested(record.session_id, trace);
		log.info({ session_id: record.session_id, provider: mc.provider, model: mc.model }, "session started");
		void this.executor.dispatch(session, { type: "start", prompt: body.prompt });
		return session.status();
	}

	/**
	 * A follow-up message. During a run it waits for that run to complete and
	 * then starts its own run; after a completed run it starts one now, with
	 * the whole conversation as context. After a restart of the sidecar the
	 * key is gone: it comes with the message, or from CREDENTIALS_URL.
	 */
	async followUp(
		id: string,
		prompt: string,
		apiKey: string | undefined,
		agent?: ChosenAgent,
		trace: TraceHeaders = {},
	): Promise<{ status: SessionStatus; queued: number }> {
		const session = this.get(id);
		if (!this.deps.store.verified(id)) throw new SessionUnverified();
		if (!session.ended || this.keys.held(session) || apiKey !== undefined || !this.keys.canFetch) {
			return this.followUpNow(session, prompt, apiKey, agent, trace);
		}
		continuable(session);
		let key: string;
		try {
			key = await this.keys.fetchForFollowUp(session);
		} catch (error) {
			throw new CredentialsUnavailable(error instanceof Error ? error.message : String(error));
		}
		// Meanwhile another message may have started a run (this one then queues behind it).
		return this.followUpNow(session, prompt, this.keys.held(session) ? undefined : key, agent, trace);
	}

	/** A follow-up whose key is at hand (held, or sent with the message). */
	private followUpNow(
		session: Session,
		prompt: string,
		apiKey: string | undefined,
		agent: ChosenAgent | undefined,
		trace: TraceHeaders,
	): { status: SessionStatus; queued: number } {
		continuable(session);
		// Nothing of a record the agent may have written steers a run: its endpoint, model, tools, agent.
		if (!this.deps.store.verified(session.id)) throw new SessionUnverified();
		if (apiKey !== undefined) this.keys.resent(session, apiKey);
		// From the next run on (the one this message starts, or the next queued one).
		if (agent) session.chooseAgent(agent.name, agent.readOnly);
		if (!session.ended) {
			this.deps.tracing?.requested(session.id, trace);
			void this.executor.dispatch(session, { type: "followUp", prompt });
			return { status: session.status(), queued: session.run.queue.length };
		}
		let credentials: SessionCredentials | undefined = this.keys.held(session);
		if (!credentials) {
			if (apiKey === undefined) throw new CredentialsUnavailable();
			credentials = this.keys.fromRecord(session, apiKey);
			if (!credentials) throw new CredentialsUnavailable();
		}
		this.admit();
		this.keys.hold(credentials);
		this.deps.tracing?.requested(session.id, trace);
		void this.executor.dispatch(session, { type: "start", prompt });
		return { status: session.status(), queued: 0 };
	}

	/** A non-fatal `error` on a running session: a warning from outside its run (memory pressure). */
	warn(id: string, code: "memory_pressure", message: string): void {
		const session = this.registry.find(id);
		if (!session || session.ended) return;
		session.emit({
			event: "error",
			data: { error: message, fatal: false, code, timestamp: isoTime(this.deps.clock.now()) },
		});
	}

	/** DELETE: ends the run at once and aborts it in the engine. Idempotent. */
	async cancel(id: string): Promise<CancelResponse> {
		const session = this.get(id);
		if (!session.ended) await this.executor.dispatch(session, { type: "cancel" });
		const r = session.record;
		return {
			session_id: r.session_id,
			status: r.status,
			cancelled_at: r.cancelled_at,
			ended_at: r.ended_at,
		};
	}

	/** Engine events, as the feed (or a reconciliation) hands them over. */
	onEngineEvents(batch: readonly EngineEvent[]): void {
		this.router.onEngineEvents(batch);
	}

	/** What the gateway reports about an engine session's provider calls; subscribed once. */
	onGatewaySignal(signal: GatewaySignal): void {
		this.router.onGatewaySignal(signal);
	}

	/** Answers an open question of the session (POST /sessions/{id}/questions/{question_id}). */
	answerQuestion(sessionId: string, questionId: string, answers: string[][]) {
		return this.executor.answer(this.get(sessionId), questionId, answers);
	}

	/** The engine process died: runs it held wait for the new one and are resumed, if their key is still held. */
	private onEngineLost(reason: string): void {
		for (const s of [...this.registry.all()]) void this.executor.dispatch(s, { type: "engineLost", reason });
	}

	private onEngineReady(): void {
		for (const s of [...this.registry.all()]) {
			// Without its key yet: it is being fetched (after a sidecar restart), which resumes it.
			if (s.awaitingResume && s.run.key && !s.run.finishing)
				this.deps.log.info({ session_id: s.id }, "resuming interrupted run");
			void this.executor.dispatch(s, { type: "engineReady" });
		}
	}

	/** For the gateway: the credentials of the live session an engine call belongs to. */
	resolveCredentials(engineSessionId: string): Promise<SessionCredentials | undefined> {
		return this.keys.resolve(engineSessionId);
	}

	/** For the gateway: a new key after a provider 401 (CREDENTIALS_URL), or undefined. */
	renewKey(engineSessionId: string, rejected: string): Promise<string | undefined> {
		return this.keys.renew(engineSessionId, rejected);
	}

	/** What the session changed in the workspace, per file (from the engine's record of each run). */
	async diff(id: string): Promise<FileChange[]> {
		const fromEngine = sessionChanges(await this.engineMessages(id));
		// The engine's record (git-root workspaces) has every run's patches; the tracker covers the rest.
		const known = new Set(fromEngine.map((c) => c.path));
		const tracked = Object.entries(this.get(id).record.workspace_changes ?? {}).filter(([p]) => !known.has(p));
		const rest = await this.workspace.describe(id, Object.fromEntries(tracked));
		return [...fromEngine, ...rest].sort((a, b) => a.path.localeCompare(b.path));
	}

	/** The conversation so far. */
	async messages(id: string): Promise<ConversationMessage[]> {
		return toConversation(await this.engineMessages(id));
	}

	private async engineMessages(id: string): Promise<unknown[]> {
		const session = this.get(id);
		const engineId = session.record.engine_session_id;
		if (!engineId) return [];
		if (!this.deps.engine.ready) throw new EngineUnavailable(this.deps.engine.notReadyReason ?? "not ready");
		return withTimeout(this.deps.clock, this.deps.settings.engineCallTimeoutMs, this.deps.engine.messages(engineId));
	}

	/** Stops accepting sessions and runs; everything in progress goes on. */
	drain(): void {
		this.closing = true;
	}

	/** Stops everything: timers, engine events; flushes every log to disk. Runs in progress stay as they are. */
	close(): void {
		this.closing = true;
		this.stopSync?.();
		for (const u of this.unsubscribe) u();
		for (const s of this.registry.all()) {
			// Also drops the runs' open questions and their timers.
			void this.executor.dispatch(s, { type: "shutdown" });
			s.channel.log.flush();
		}
	}

	get shuttingDown(): boolean {
		return this.closing;
	}
}

/** Throws unless a follow-up may continue the session. */
function continuable(session: Session): void {
	const r = session.record;
	// An interrupted run (its key died with a restart) continues when the key is sent again.
	const resumable = r.status === "failed" && r.error?.code === "interrupted";
	if (r.status === "cancelled" || r.status === "timeout" || (r.status === "failed" && !resumable)) {
		throw new SessionNotContinuable(r.status);
	}
}

/** An endpoint is kept on disk only when it holds nothing secret-like. */
function storableEndpoint(endpoint: string): boolean {
	try {
		const url = new URL(endpoint);
		return url.username === "" && url.password === "" && url.search === "";
	} catch {
		return false;
	}
}
