import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/parse";
import type { CredentialsSource } from "../credentials/source";
import { engineModelFor } from "../engine/config";
import type { Engine } from "../engine/engine";
import { type EngineEvent, engineSessionOf, parentSessionOf } from "../engine/events";
import { refusedTool, toolSwitches } from "../engine/tools";
import { type RunOutcome, RunTranslator } from "../engine/translate";
import type { ErrorCode, StoredEvent } from "../events/catalogue";

import { EventChannel } from "../events/channel";
import { type SessionCredentials, scrub } from "../gateway/credentials";
import {
	CapacityExceeded,
	EngineUnavailable,
	SessionExists,
	SessionNotFound,
	ShuttingDown,
	ValidationFailed,
} from "../http/errors";
import type { Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import type { Logger } from "../lib/log";
import { withTimeout } from "../lib/timeout";
import { PROVIDERS, type ProviderName } from "../providers/catalogue";
import { mergeChanges, WorkspaceTracker, withoutOthersEdits } from "../workspace/tracker";
import { AgentRequests } from "./agent-requests";
import { AgentCatalogue, type ChosenAgent } from "./agents";
import { type ConversationMessage, toConversation } from "./conversation";
import { type FileChange, sessionChanges } from "./diff";
import { CredentialsUnavailable, SessionNotContinuable } from "./errors";
import type { RunEnd } from "./lifecycle";
import { Reconciler } from "./reconcile";
import type { SessionRecord } from "./record";
import type { CancelResponse, CreateSessionBody, SessionStatus } from "./schemas";
import { Session } from "./session";
import type { SessionStore } from "./store";

export interface SessionManagerDeps {
	readonly config: Config;
	readonly store: SessionStore;
	readonly engine: Engine;
	readonly clock: Clock;
	readonly log: Logger;
	/** Told about every stored event and the session it belongs to (for metrics). */
	readonly onStored?: (event: StoredEvent, record: SessionRecord) => void;
	/** CREDENTIALS_URL: where keys this process does not hold are fetched (after a restart, after a 401). */
	readonly credentials?: CredentialsSource;
}

const RESUME_PROMPT =
	"The previous run was interrupted by a restart of the engine. Continue the task from where you stopped; do not redo finished steps.";

/** A session's run started or ended; for observers such as the Kubernetes reporter. */
export interface LifecycleEvent {
	readonly session_id: string;
	readonly status: SessionStatus["status"];
	readonly code?: string;
	readonly message?: string;
	readonly at: string;
}

/**
 * The sessions service: starts runs on the engine (first prompt, follow-ups,
 * resumes), routes engine events to each session's translator, answers the
 * agent's permission requests and questions, ends runs (completion, failure,
 * cancel, timeout), and serves credentials to the gateway. Routes call it
 * with plain values.
 */
export class SessionManager {
	private readonly sessions = new Map<string, Session>();
	/** Engine session id (including sub-agent sessions) → our session. */
	private readonly byEngine = new Map<string, Session>();
	private readonly requests: AgentRequests;
	private readonly reconciler: Reconciler;
	/** Checks the `agent` a request names (routes call it before `create` / `followUp`). */
	readonly agents: AgentCatalogue;
	private readonly workspace: WorkspaceTracker;
	/** Completed runs whose workspace scan is under way. */
	private readonly finishing = new Set<Session>();
	private readonly unsubscribe: (() => void)[] = [];
	private readonly lifecycleListeners = new Set<(e: LifecycleEvent) => void>();
	private closing = false;
	/** close() was called: the process is stopping and runs in progress stay as they are. */
	private closed = false;
	private stopSync: (() => void) | undefined;

	constructor(private readonly deps: SessionManagerDeps) {
		this.requests = new AgentRequests(deps);
		this.reconciler = new Reconciler({
			engine: deps.engine,
			log: deps.log,
			sessions: () => this.sessions.values(),
			apply: (events) => this.onEngineEvents(events),
		});
		this.agents = new AgentCatalogue(deps.engine, deps.config.engineCallTimeoutMs);
		this.workspace = new WorkspaceTracker(deps.config.workspaceDir, deps.config.stateDir, (error) =>
			deps.log.warn({ err: String(error) }, "workspace snapshot failed"),
		);
	}

	/** Loads stored sessions and starts listening to the engine. */
	init(): void {
		const { loaded, broken } = this.deps.store.loadAll();
		for (const b of broken)
			this.deps.log.error({ session_id: b.id, reason: b.reason }, "stored session unreadable; skipped");
		for (const { record, log, recovery } of loaded) {
			if (recovery.discardedBytes > 0) {
				this.deps.log.warn(
					{
						session_id: record.session_id,
						discarded_bytes: recovery.discardedBytes,
					},
					"torn event record discarded",
				);
			}
			if (recovery.migrated)
				this.deps.log.info({ session_id: record.session_id, events: recovery.events }, "event log migrated to frames");
			const session = this.newSession(record, new EventChannel(log, this.storedHook(record)));
			this.sessions.set(record.session_id, session);
			if (record.engine_session_id) this.byEngine.set(record.engine_session_id, session);
			if (!session.ended) this.afterRestart(session);
		}
		this.prune();
		this.unsubscribe.push(this.deps.engine.onEvents((batch) => this.onEngineEvents(batch)));
		this.unsubscribe.push(this.deps.engine.onLost((reason) => this.onEngineLost(reason)));
		this.unsubscribe.push(this.deps.engine.onReady(() => this.resumeInterrupted()));
		// Whatever the engine did while its event feed was down (see reconcile.ts).
		this.unsubscribe.push(this.deps.engine.onResync(() => this.reconciler.run()));
		// Events are written to the kernel at once; flush running logs to disk every second.
		this.stopSync = this.deps.clock.setInterval(() => {
			for (const s of this.sessions.values()) if (!s.ended) s.channel.log.sync();
		}, 1000);
	}

	/**
	 * A run the previous process was running. Its key was only in that process's memory: with
	 * CREDENTIALS_URL it is fetched again and the run resumes like after an engine restart;
	 * without, or when the fetch fails, the run ends `failed interrupted`.
	 */
	private afterRestart(session: Session): void {
		const source = this.deps.credentials;
		const lost = "the sidecar restarted while the run was in progress";
		if (!source || !this.deps.config.resumeInterrupted || !session.record.engine_session_id) {
			this.endRun(session, {
				status: "failed",
				code: "interrupted",
				error: `${lost}; its API key was not kept, so the run cannot resume`,
			});
			return;
		}
		session.awaitingResume = true;
		session.emit({
			event: "error",
			data: {
				error: `${lost}; it resumes with its key from CREDENTIALS_URL`,
				fatal: false,
				code: "interrupted",
				timestamp: isoTime(this.deps.clock.now()),
			},
		});
		const { session_id, provider } = session.record;
		source.fetchKey({ sessionId: session_id, provider, reason: "restart" }).then(
			(key) => {
				if (session.ended || this.closed) return;
				session.credentials = this.credentialsFromRecord(session, key);
				if (!session.credentials) {
					this.endRun(session, {
						status: "failed",
						code: "interrupted",
						error: `${lost}; its endpoint was not stored`,
					});
				} else if (this.deps.engine.ready) this.resumeInterrupted();
			},
			(error: unknown) => {
				if (session.ended || this.closed) return;
				const cause = error instanceof Error ? error.message : String(error);
				this.deps.log.warn({ session_id, reason: cause }, "key not fetched after restart");
				this.endRun(session, { status: "failed", code: "interrupted", error: `${lost}; ${cause}` });
			},
		);
	}

	/** Keeps at most MAX_STORED_SESSIONS ended sessions on disk, removing the oldest. */
	private prune(): void {
		const ended = [...this.sessions.values()].filter((s) => s.ended);
		const excess = ended.length - this.deps.config.maxStoredSessions;
		if (excess <= 0) return;
		ended.sort((a, b) => (a.record.ended_at ?? "").localeCompare(b.record.ended_at ?? ""));
		for (const s of ended.slice(0, excess)) {
			this.sessions.delete(s.id);
			const engineId = s.record.engine_session_id;
			if (engineId) for (const [k, v] of this.byEngine) if (v === s) this.byEngine.delete(k);
			s.channel.log.close();
			rmSync(join(this.deps.store.root, s.id), { recursive: true, force: true });
			this.workspace.forget(s.id);
			this.deps.log.info({ session_id: s.id }, "old session removed (MAX_STORED_SESSIONS)");
			// Its conversation too: the engine's database would otherwise grow with every session the pod ever ran.
			if (engineId) void this.deleteInEngine(s.id, engineId);
		}
	}

	private async deleteInEngine(sessionId: string, engineId: string): Promise<void> {
		try {
			await this.deps.engine.whenWarm();
			await withTimeout(
				this.deps.clock,
				this.deps.config.engineCallTimeoutMs,
				this.deps.engine.deleteSession(engineId),
			);
		} catch (error) {
			this.deps.log.warn({ session_id: sessionId, err: String(error) }, "engine copy of a removed session not deleted");
		}
	}

	private newSession(record: SessionRecord, channel: EventChannel): Session {
		const translator = new RunTranslator({
			workspaceDir: this.deps.config.workspaceDir,
			redact: (text) => this.redactAll(text),
			initial: {
				files: record.files_modified,
				...(record.usage ? { usage: record.usage } : {}),
			},
		});
		return new Session(record, channel, translator, this.deps.store);
	}

	private storedHook(record: SessionRecord): ((event: StoredEvent) => void) | undefined {
		const onStored = this.deps.onStored;
		return onStored && ((event) => onStored(event, record));
	}

	/** Removes every key held in memory from a text that came from outside. */
	private redactAll(text: string): string {
		let out = text;
		for (const s of this.sessions.values()) if (s.credentials) out = scrub(out, s.credentials.apiKey);
		return out;
	}

	/** Observes runs starting and ending. Listener errors are logged and ignored. */
	onLifecycle(listener: (e: LifecycleEvent) => void): () => void {
		this.lifecycleListeners.add(listener);
		return () => this.lifecycleListeners.delete(listener);
	}

	private announce(session: Session): void {
		const r = session.record;
		const event: LifecycleEvent = {
			session_id: r.session_id,
			status: r.status,
			...(r.error ? { code: r.error.code, message: r.error.message } : {}),
			at: r.updated_at,
		};
		for (const l of this.lifecycleListeners) {
			try {
				l(event);
			} catch (error) {
				this.deps.log.warn({ err: String(error) }, "lifecycle listener failed");
			}
		}
	}

	/** Every session, newest first. */
	list(): Session[] {
		return [...this.sessions.values()].sort((a, b) => b.record.created_at.localeCompare(a.record.created_at));
	}

	get runningCount(): number {
		let n = 0;
		for (const s of this.sessions.values()) if (!s.ended) n++;
		return n;
	}

	get(id: string): Session {
		const s = this.sessions.get(id);
		if (!s) throw new SessionNotFound();
		return s;
	}

	status(id: string): SessionStatus {
		return this.get(id).status();
	}

	private admit(): void {
		const { config, engine } = this.deps;
		if (this.closing) throw new ShuttingDown();
		if (this.runningCount >= config.maxConcurrentSessions) throw new CapacityExceeded(config.maxConcurrentSessions, 30);
		if (!engine.ready) throw new EngineUnavailable(engine.notReadyReason ?? "not ready");
	}

	/**
	 * Registers and starts a session and answers at once: the run is stored and
	 * its first event (`status: running`) logged before this returns; the
	 * engine session is created and prompted right after (see `launch`). An
	 * engine that is known to be down is refused here with 503; one that
	 * refuses the run ends it `failed` with `engine_unavailable`.
	 */
	create(body: CreateSessionBody, agent?: ChosenAgent): SessionStatus {
		const { clock, log } = this.deps;
		const mc = body.model_config;
		const refused = refusedTool(mc.enabled_tools);
		if (refused) throw new ValidationFailed("model_config.enabled_tools", refused.reason);
		const endpoint = (mc.api_endpoint ?? PROVIDERS[mc.provider].defaultEndpoint)?.replace(/\/+$/, "");
		if (!endpoint) throw new ValidationFailed("model_config.api_endpoint", `is required for provider ${mc.provider}`);
		const existing = this.sessions.get(body.session_id);
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
			temperature: mc.temperature,
			max_tokens: mc.max_tokens,
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
		this.sessions.set(record.session_id, session);
		session.credentials = this.credentialsFor(session, mc, endpoint);
		log.info({ session_id: record.session_id, provider: mc.provider, model: mc.model }, "session started");
		this.startRun(session, body.prompt);
		return session.status();
	}

	/**
	 * Starts a run (first prompt, follow-up, queued message, resume): its
	 * first event is stored now, and the engine gets the prompt right after,
	 * without the caller waiting (see `launch`).
	 */
	private startRun(session: Session, prompt: string): void {
		this.beginRun(session);
		void this.launch(session, prompt);
	}

	/**
	 * The engine's part of a run: create the engine session if there is none
	 * yet and send the prompt. A run cancelled (or timed out) meanwhile is
	 * aborted in the engine, not prompted; one whose engine goes away waits for
	 * the next engine and is launched again with the same prompt.
	 */
	private async launch(session: Session, prompt: string): Promise<void> {
		const { engine, log, store } = this.deps;
		session.launching = prompt;
		session.translator.beginRun();
		try {
			if (!session.record.engine_session_id) {
				const engineId = await withTimeout(
					this.deps.clock,
					this.deps.config.engineCallTimeoutMs,
					engine.createSession(`sidecar ${session.id}`),
				);
				session.record.engine_session_id = engineId;
				this.byEngine.set(engineId, session);
				store.save(session.record);
				log.info({ session_id: session.id, engine_session_id: engineId }, "engine session created");
			}
			if (session.ended || this.closed) return;
			// Before the engine has the prompt: everything the run changes is after this.
			await this.workspace.begin(session.id);
			if (session.ended || this.closed) return;
			await this.sendPrompt(session, prompt);
			session.launching = undefined;
			if (session.ended) await this.abortInEngine(session);
		} catch (error) {
			if (!session.ended && !this.closed && (await this.engineWentAway(session))) {
				// Started again, with the same prompt, when the engine is back (see resumeInterrupted).
				log.warn({ session_id: session.id, err: String(error) }, "engine went away while starting the run");
				if (!session.awaitingResume) this.interrupt(session, "the engine went away while the run was starting");
				return;
			}
			this.refused(session, error);
		}
	}

	/**
	 * After a failed engine call: did the engine go away (exited, recycled,
	 * its stream lost), rather than refuse? A process that just died may not
	 * have been seen exiting yet: one health check gives it the time.
	 */
	private async engineWentAway(session: Session): Promise<boolean> {
		const { engine } = this.deps;
		if (session.awaitingResume || !engine.ready) return true;
		await engine.healthy(1000);
		return session.awaitingResume || !engine.ready;
	}

	/** A run is starting: its first event, its observers told. */
	private beginRun(session: Session): void {
		session.translator.beginRun(this.deps.clock.now());
		session.retries = 0;
		session.begin(this.deps.clock.now());
		this.announce(session);
	}

	/**
	 * Hands one prompt to the engine, once it has warmed up; SESSION_TIMEOUT
	 * counts from the moment the engine has it.
	 */
	private async sendPrompt(session: Session, prompt: string): Promise<void> {
		const engineId = session.record.engine_session_id;
		if (!engineId) throw new Error("session has no engine session");
		// Bounded by the engine's start timeout; not counted in the engine call's own.
		await this.deps.engine.whenWarm();
		await withTimeout(
			this.deps.clock,
			this.deps.config.engineCallTimeoutMs,
			this.deps.engine.prompt(engineId, {
				text: prompt,
				...(session.record.system_prompt === undefined ? {} : { system: session.record.system_prompt }),
				tools: toolSwitches(session.record.enabled_tools, session.record.read_only),
				model: engineModelFor(session.record.provider),
				...(session.record.agent === undefined ? {} : { agent: session.record.agent }),
			}),
		);
		if (session.ended) return;
		session.stopTimeout?.();
		session.stopTimeout = this.deps.clock.setTimeout(() => this.timeOut(session), this.deps.config.sessionTimeoutMs);
	}

	private credentialsFor(
		session: Session,
		mc: {
			provider: ProviderName;
			api_key: string;
			model: string;
			temperature: number;
			max_tokens: number;
		},
		endpoint: string,
	): SessionCredentials {
		return {
			sessionId: session.id,
			provider: mc.provider,
			apiKey: mc.api_key,
			endpoint,
			model: mc.model,
			temperature: mc.temperature,
			maxTokens: mc.max_tokens,
			notice: (message) => session.notice(message, this.deps.clock.now()),
			stalled: (message) => this.providerStalled(session.id, message),
			upstreamStatus: (status) => {
				session.lastUpstreamStatus = status;
			},
			...(this.deps.credentials ? { renew: (rejected: string) => this.renewKey(session, rejected) } : {}),
		};
	}

	/** The session's credentials rebuilt from its record (which keeps everything but the key). */
	private credentialsFromRecord(session: Session, apiKey: string): SessionCredentials | undefined {
		const r = session.record;
		// An endpoint that carries credentials is not stored.
		const endpoint = (r.api_endpoint ?? PROVIDERS[r.provider].defaultEndpoint)?.replace(/\/+$/, "");
		if (!endpoint) return undefined;
		const mc = {
			provider: r.provider,
			api_key: apiKey,
			model: r.model,
			temperature: r.temperature ?? 1,
			max_tokens: r.max_tokens ?? 4096,
		};
		return this.credentialsFor(session, mc, endpoint);
	}

	/**
	 * The provider answered 401 to a call of a live run: asks CREDENTIALS_URL once for a new key.
	 * A failed fetch ends the run `failed interrupted`, naming the cause.
	 */
	private async renewKey(session: Session, rejected: string): Promise<string | undefined> {
		const source = this.deps.credentials;
		if (!source || session.ended) return undefined;
		const { session_id, provider } = session.record;
		try {
			const key = await source.fetchKey({ sessionId: session_id, provider, reason: "unauthorized" });
			// The same key again: the backend has nothing newer, and the 401 stands.
			if (session.ended || key === rejected || !session.credentials) return undefined;
			session.credentials = { ...session.credentials, apiKey: key };
			this.deps.log.info({ session_id }, "new key fetched after a provider 401");
			return key;
		} catch (error) {
			if (session.ended) return undefined;
			const cause = error instanceof Error ? error.message : String(error);
			this.deps.log.warn({ session_id, reason: cause }, "key not fetched after a provider 401");
			this.endRun(session, {
				status: "failed",
				code: "interrupted",
				error: `the provider rejected the key (401); ${cause}`,
			});
			void this.abortInEngine(session);
			return undefined;
		}
	}

	/**
	 * A follow-up message. During a run it waits for that run to complete and
	 * then starts its own run; after a completed run it starts one now, with
	 * the whole conversation as context.
	 */
	followUp(
		id: string,
		prompt: string,
		apiKey: string | undefined,
		agent?: ChosenAgent,
	): { status: SessionStatus; queued: number } {
		const session = this.get(id);
		const r = session.record;
		// An interrupted run (its key died with a restart) continues when the key is sent again.
		const resumable = r.status === "failed" && r.error?.code === "interrupted";
		if (r.status === "cancelled" || r.status === "timeout" || (r.status === "failed" && !resumable)) {
			throw new SessionNotContinuable(r.status);
		}
		if (apiKey !== undefined && session.credentials) session.credentials = { ...session.credentials, apiKey };
		// From the next run on (the one this message starts, or the next queued one).
		if (agent) Object.assign(r, { agent: agent.name, read_only: agent.readOnly });
		if (!session.ended) {
			session.queue.push(prompt);
			return { status: session.status(), queued: session.queue.length };
		}
		if (!session.credentials) {
			if (apiKey === undefined) throw new CredentialsUnavailable();
			session.credentials = this.credentialsFromRecord(session, apiKey);
			if (!session.credentials) throw new CredentialsUnavailable();
		}
		this.admit();
		this.startRun(session, prompt);
		return { status: session.status(), queued: 0 };
	}

	/** The engine did not take the run (unreachable, timed out, or refused it). */
	private refused(session: Session, error: unknown): void {
		// While the sidecar stops, the engine goes away under a run being started: it ends `interrupted` at the next start.
		if (session.ended || this.closed) return;
		this.deps.log.error({ session_id: session.id, err: String(error) }, "engine refused the run");
		this.endRun(session, {
			status: "failed",
			code: "engine_unavailable",
			error: "the engine did not accept the run",
		});
	}

	/** DELETE: ends the run at once and aborts it in the engine. Idempotent. */
	async cancel(id: string): Promise<CancelResponse> {
		const session = this.get(id);
		if (!session.ended) {
			this.endRun(session, {
				status: "cancelled",
				code: "cancelled",
				error: "cancelled by request",
			});
			await this.abortInEngine(session);
		}
		const r = session.record;
		return {
			session_id: r.session_id,
			status: r.status,
			cancelled_at: r.cancelled_at,
			ended_at: r.ended_at,
		};
	}

	private timeOut(session: Session): void {
		if (session.ended) return;
		const seconds = this.deps.config.sessionTimeoutMs / 1000;
		this.endRun(session, {
			status: "timeout",
			code: "timeout",
			error: `run exceeded SESSION_TIMEOUT (${seconds}s)`,
		});
		void this.abortInEngine(session);
	}

	private async abortInEngine(session: Session): Promise<void> {
		const engineId = session.record.engine_session_id;
		if (!engineId || !this.deps.engine.ready) return;
		try {
			await withTimeout(this.deps.clock, this.deps.config.engineCallTimeoutMs, this.deps.engine.abort(engineId));
		} catch (error) {
			this.deps.log.warn({ session_id: session.id, err: String(error) }, "engine abort failed");
		}
	}

	private endRun(session: Session, end: RunEnd): void {
		if (session.ended) return;
		// A completed run was scanned before it ended (see finishCompleted); any other is scanned now, after.
		if (end.status !== "completed") void this.scanWorkspace(session);
		const now = this.deps.clock.now();
		this.requests.forget(session);
		if (end.status !== "completed" && session.queue.length > 0) {
			session.emit({
				event: "output",
				data: {
					type: "stderr",
					text: `${session.queue.length} queued message(s) dropped: the run ended ${end.status}\n`,
					source: "sidecar",
					timestamp: isoTime(now),
				},
			});
			session.queue.length = 0;
		}
		session.end(end, now);
		this.announce(session);
		this.prune();
		const r = session.record;
		const level = end.status === "completed" || end.status === "cancelled" ? "info" : "warn";
		this.deps.log[level](
			{
				session_id: r.session_id,
				status: r.status,
				code: r.error?.code,
				last_event_id: session.channel.lastId,
			},
			"session ended",
		);
		const next = end.status === "completed" ? session.queue.shift() : undefined;
		if (next !== undefined) this.startRun(session, next);
	}

	/** What the run changed in the workspace, folded into the session's record; the paths. */
	private async scanWorkspace(session: Session): Promise<string[]> {
		try {
			const all = await this.workspace.end(session.id);
			const changes = withoutOthersEdits(all, this.othersEdits(session));
			const r = session.record;
			r.workspace_changes = mergeChanges(r.workspace_changes ?? {}, changes);
			const paths = [...changes.added, ...changes.modified, ...changes.deleted];
			if (session.ended && paths.length > 0) {
				r.files_modified = [...new Set([...r.files_modified, ...paths])];
				this.deps.store.save(r);
			}
			return paths;
		} catch (error) {
			this.deps.log.warn({ session_id: session.id, err: String(error) }, "workspace scan failed");
			return [];
		}
	}

	/**
	 * Files that other sessions' own write/edit calls changed, which this session's did not: a change the
	 * workspace tracker sees during this run is this session's unless another session's tool says it made it.
	 */
	private othersEdits(session: Session): Set<string> {
		const mine = new Set(session.translator.filesModified);
		const since = session.record.started_at ?? "";
		const others = new Set<string>();
		for (const s of this.sessions.values()) {
			if (s === session || (s.ended && (s.record.ended_at ?? "") < since)) continue;
			for (const f of s.translator.filesModified) if (!mine.has(f)) others.add(f);
		}
		return others;
	}

	/** A completed run: its `complete` event lists every file it changed, so the workspace is scanned first. */
	private async finishCompleted(session: Session): Promise<void> {
		if (this.finishing.has(session)) return;
		this.finishing.add(session);
		// The engine has finished the run: SESSION_TIMEOUT no longer applies while the sidecar scans.
		session.stopTimeout?.();
		session.stopTimeout = undefined;
		const changed = await this.scanWorkspace(session);
		this.finishing.delete(session);
		if (session.ended) return; // cancelled or timed out meanwhile; the changes are recorded
		const t = session.translator;
		this.endRun(session, {
			status: "completed",
			finalMessage: t.finalMessage,
			filesModified: [...new Set([...t.filesModified, ...changed])],
			usage: t.usage,
		});
	}

	private finishFromEngine(session: Session, outcome: RunOutcome): void {
		if (outcome.status === "completed") {
			void this.finishCompleted(session);
		} else if (outcome.status === "aborted") {
			this.endRun(session, {
				status: "failed",
				code: "engine_error",
				error: "the engine aborted the run",
			});
		} else {
			this.endRun(session, {
				status: "failed",
				code: outcome.code,
				error: outcome.error,
			});
		}
	}

	/**
	 * A burst of engine events (one network read). Consecutive pieces of live
	 * output of a session become one event; each session's held output is
	 * released when the burst has been handled.
	 */
	onEngineEvents(batch: readonly EngineEvent[]): void {
		const touched = new Set<Session>();
		for (const e of batch) {
			// One event that cannot be handled must not cost the rest of the burst.
			try {
				this.onEngineEvent(e, touched);
			} catch (error) {
				this.deps.log.error({ err: String(error), event_type: e.type }, "engine event not handled");
			}
		}
		for (const s of touched) s.releaseOutput();
	}

	/** Handles one engine event; a session it may hold output for goes into `touched`. */
	private onEngineEvent(e: EngineEvent, touched: Set<Session>): void {
		const child = parentSessionOf(e);
		if (child) {
			const parent = this.byEngine.get(child.parentID);
			if (parent) this.byEngine.set(child.id, parent);
		}
		const engineId = engineSessionOf(e);
		const session = engineId === undefined ? undefined : this.byEngine.get(engineId);
		if (!session) return;
		if (this.requests.handle(session, e)) return;
		// Events of sub-agent sessions only matter for credentials, permissions and questions.
		if (engineId !== session.record.engine_session_id || session.ended) return;
		touched.add(session);
		const { events, outcome } = session.translator.translate(e, this.deps.clock.now());
		for (const ev of events) {
			const retry = ev.event === "error" && !ev.data.fatal && ev.data.code !== "parameter_ignored";
			// The engine's retry event carries the provider's message, not its status: the gateway saw the status.
			if (retry && session.lastUpstreamStatus !== undefined) {
				ev.data.code = session.lastUpstreamStatus === 429 ? "provider_rate_limited" : "provider_error";
			}
			if (ev.event === "output") session.holdOutput(ev);
			else session.emit(ev);
			if (retry) this.countRetry(session, ev.data);
		}
		if (outcome) this.finishFromEngine(session, outcome);
	}

	/** The engine retries rate limits and provider errors on its own, forever: cap it per run. */
	private countRetry(session: Session, error: { code: ErrorCode; error: string }): void {
		session.retries++;
		const max = this.deps.config.providerMaxRetries;
		if (session.ended || session.retries <= max) return;
		this.endRun(session, {
			status: "failed",
			code: error.code,
			error: `gave up after ${max} retries (PROVIDER_MAX_RETRIES): ${error.error}`,
		});
		void this.abortInEngine(session);
	}

	/** The gateway saw no byte from the provider for PROVIDER_IDLE_TIMEOUT. */
	providerStalled(sessionId: string, message: string): void {
		const session = this.sessions.get(sessionId);
		if (!session || session.ended) return;
		this.endRun(session, { status: "failed", code: "provider_timeout", error: message });
		void this.abortInEngine(session);
	}

	/** Answers an open question of the session (POST /sessions/{id}/questions/{question_id}). */
	answerQuestion(sessionId: string, questionId: string, answers: string[][]) {
		return this.requests.answer(this.get(sessionId), questionId, answers);
	}

	/** The engine process died: runs it held wait for the new one and are resumed, if their key is still held. */
	private onEngineLost(reason: string): void {
		for (const s of this.sessions.values()) if (!s.ended && !s.awaitingResume) this.interrupt(s, reason);
	}

	/** The engine went away under a run: it waits for the new engine (told so), or ends if it cannot resume. */
	private interrupt(s: Session, reason: string): void {
		if (!s.credentials || !this.deps.config.resumeInterrupted) {
			this.endRun(s, {
				status: "failed",
				code: "interrupted",
				error: `the run was lost: ${reason}${this.deps.config.resumeInterrupted ? "" : " (RESUME_INTERRUPTED=false)"}`,
			});
			return;
		}
		s.awaitingResume = true;
		s.translator.endRun();
		s.emit({
			event: "error",
			data: {
				error: `${reason}; the run resumes when the engine is back`,
				fatal: false,
				code: "interrupted",
				timestamp: isoTime(this.deps.clock.now()),
			},
		});
	}

	private resumeInterrupted(): void {
		for (const s of this.sessions.values()) {
			// Without credentials yet: its key is being fetched (after a sidecar restart), which resumes it.
			if (s.ended || !s.awaitingResume || !s.credentials) continue;
			s.awaitingResume = false;
			this.deps.log.info({ session_id: s.id }, "resuming interrupted run");
			// A run the engine never took starts with its own prompt; one it was running is told to continue.
			if (s.launching !== undefined) void this.launch(s, s.launching);
			else this.startRun(s, RESUME_PROMPT);
		}
	}

	/** For the gateway: the credentials of the live session an engine call belongs to. */
	async resolveCredentials(engineSessionId: string): Promise<SessionCredentials | undefined> {
		let session = this.byEngine.get(engineSessionId);
		if (!session) {
			// A sub-agent whose creation event has not arrived yet: ask the engine.
			const parent = await this.deps.engine.parentOf(engineSessionId).catch(() => undefined);
			session = parent ? this.byEngine.get(parent) : undefined;
			if (session) this.byEngine.set(engineSessionId, session);
		}
		return session && !session.ended ? session.credentials : undefined;
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
		return withTimeout(this.deps.clock, this.deps.config.engineCallTimeoutMs, this.deps.engine.messages(engineId));
	}

	/** Stops accepting sessions and runs; everything in progress goes on. */
	drain(): void {
		this.closing = true;
	}

	/** Stops everything: timers, engine events; flushes every log to disk. */
	close(): void {
		this.closing = true;
		this.closed = true;
		this.stopSync?.();
		for (const u of this.unsubscribe) u();
		this.requests.close();
		for (const s of this.sessions.values()) {
			s.stopTimeout?.();
			s.channel.log.flush();
		}
	}

	get shuttingDown(): boolean {
		return this.closing;
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
