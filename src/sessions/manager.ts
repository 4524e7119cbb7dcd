import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/parse";
import { engineModelFor } from "../engine/config";
import type { Engine } from "../engine/engine";
import {
	type EngineEvent,
	engineSessionOf,
	isObject,
	parentSessionOf,
	str,
} from "../engine/events";
import { toolSwitches } from "../engine/tools";
import { type RunOutcome, RunTranslator } from "../engine/translate";
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
import { PROVIDERS } from "../providers/catalogue";
import type { RunEnd } from "./lifecycle";
import type { SessionRecord } from "./record";
import type {
	CancelResponse,
	CreateSessionBody,
	SessionStatus,
} from "./schemas";
import { Session } from "./session";
import type { SessionStore } from "./store";

export interface SessionManagerDeps {
	readonly config: Config;
	readonly store: SessionStore;
	readonly engine: Engine;
	readonly clock: Clock;
	readonly log: Logger;
}

const ENGINE_CALL_TIMEOUT_MS = 10_000;

/** A session's run started or ended; for observers such as the Kubernetes reporter. */
export interface LifecycleEvent {
	readonly session_id: string;
	readonly status: SessionStatus["status"];
	readonly code?: string;
	readonly message?: string;
	readonly at: string;
}

/**
 * The sessions service: creates runs on the engine, routes engine events to
 * each session's translator, ends runs (completion, failure, cancel, timeout),
 * and serves credentials to the gateway. Routes call it with plain values.
 */
export class SessionManager {
	private readonly sessions = new Map<string, Session>();
	/** Engine session id (including sub-agent sessions) → our session. */
	private readonly byEngine = new Map<string, Session>();
	private readonly unsubscribe: (() => void)[] = [];
	private readonly lifecycleListeners = new Set<(e: LifecycleEvent) => void>();
	private closing = false;
	private stopSync: (() => void) | undefined;

	constructor(private readonly deps: SessionManagerDeps) {}

	/** Loads stored sessions and starts listening to the engine. */
	init(): void {
		const { loaded, broken } = this.deps.store.loadAll();
		for (const b of broken)
			this.deps.log.error(
				{ session_id: b.id, reason: b.reason },
				"stored session unreadable; skipped",
			);
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
			const session = this.newSession(record, new EventChannel(log));
			this.sessions.set(record.session_id, session);
			if (record.engine_session_id)
				this.byEngine.set(record.engine_session_id, session);
			if (!session.ended) {
				// The run's credentials died with the previous process.
				session.end(
					{
						status: "failed",
						code: "interrupted",
						error: "the sidecar restarted while the run was in progress",
					},
					this.deps.clock.now(),
				);
			}
		}
		this.unsubscribe.push(
			this.deps.engine.onEvent((e) => this.onEngineEvent(e)),
		);
		this.unsubscribe.push(
			this.deps.engine.onLost((reason) => this.onEngineLost(reason)),
		);
		// Events are written to the kernel at once; flush running logs to disk every second.
		this.stopSync = this.deps.clock.setInterval(() => {
			for (const s of this.sessions.values())
				if (!s.ended) s.channel.log.sync();
		}, 1000);
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

	/** Removes every live key from a text that came from outside. */
	private redactAll(text: string): string {
		let out = text;
		for (const s of this.sessions.values())
			if (s.credentials) out = scrub(out, s.credentials.apiKey);
		return out;
	}

	/** Observes runs starting and ending. Listeners must not throw; errors are logged and ignored. */
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

	/** Sessions (all of them, newest first). */
	list(): Session[] {
		return [...this.sessions.values()].sort((a, b) =>
			b.record.created_at.localeCompare(a.record.created_at),
		);
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

	async create(body: CreateSessionBody): Promise<SessionStatus> {
		const { config, clock, engine, log } = this.deps;
		const mc = body.model_config;
		const spec = PROVIDERS[mc.provider];
		const endpoint = (mc.api_endpoint ?? spec.defaultEndpoint)?.replace(
			/\/+$/,
			"",
		);
		if (!endpoint)
			throw new ValidationFailed(
				"model_config.api_endpoint",
				`is required for provider ${mc.provider}`,
			);
		const existing = this.sessions.get(body.session_id);
		if (existing) throw new SessionExists(existing.status());
		if (this.closing) throw new ShuttingDown();
		if (this.runningCount >= config.maxConcurrentSessions) {
			throw new CapacityExceeded(config.maxConcurrentSessions, 30);
		}
		if (!engine.ready)
			throw new EngineUnavailable(engine.notReadyReason ?? "not ready");

		const now = isoTime(clock.now());
		const record: SessionRecord = {
			session_id: body.session_id,
			engine_session_id: null,
			status: "pending",
			provider: mc.provider,
			model: mc.model,
			...(mc.model_version === undefined
				? {}
				: { model_version: mc.model_version }),
			created_at: now,
			started_at: null,
			updated_at: now,
			ended_at: null,
			cancelled_at: null,
			files_modified: [],
		};
		// Registered before the first await, so a concurrent duplicate gets 409 and capacity holds.
		const session = this.newSession(
			record,
			new EventChannel(this.deps.store.create(record)),
		);
		this.sessions.set(record.session_id, session);
		let engineSessionId: string | undefined;
		try {
			engineSessionId = await withTimeout(
				engine.createSession(`sidecar ${record.session_id}`),
				ENGINE_CALL_TIMEOUT_MS,
			);
			record.engine_session_id = engineSessionId;
			this.byEngine.set(engineSessionId, session);
			session.credentials = this.credentialsFor(session, body, endpoint);
			session.translator.beginRun();
			session.begin(clock.now());
			await withTimeout(
				engine.prompt(engineSessionId, {
					text: body.prompt,
					...(body.system_prompt === undefined
						? {}
						: { system: body.system_prompt }),
					tools: toolSwitches(mc.enabled_tools),
					model: engineModelFor(mc.provider),
				}),
				ENGINE_CALL_TIMEOUT_MS,
			);
		} catch (error) {
			// Nothing was promised yet: forget the session so the backend can simply retry.
			log.error(
				{ session_id: record.session_id, err: String(error) },
				"engine refused the session",
			);
			this.forget(session, engineSessionId);
			throw new EngineUnavailable("it did not accept the session");
		}
		session.stopTimeout = clock.setTimeout(
			() => this.timeOut(session),
			config.sessionTimeoutMs,
		);
		log.info(
			{
				session_id: record.session_id,
				engine_session_id: engineSessionId,
				provider: mc.provider,
				model: mc.model,
			},
			"session started",
		);
		return session.status();
	}

	private forget(session: Session, engineSessionId: string | undefined): void {
		session.credentials = undefined;
		session.translator.endRun();
		this.sessions.delete(session.id);
		if (engineSessionId) {
			this.byEngine.delete(engineSessionId);
			void this.deps.engine.abort(engineSessionId).catch(() => {});
		}
		session.channel.log.close();
		rmSync(join(this.deps.store.root, session.id), {
			recursive: true,
			force: true,
		});
	}

	private credentialsFor(
		session: Session,
		body: CreateSessionBody,
		endpoint: string,
	): SessionCredentials {
		const mc = body.model_config;
		return {
			sessionId: session.id,
			provider: mc.provider,
			apiKey: mc.api_key,
			endpoint,
			model: mc.model,
			temperature: mc.temperature,
			maxTokens: mc.max_tokens,
			notice: (message) => session.notice(message, this.deps.clock.now()),
		};
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
			await withTimeout(
				this.deps.engine.abort(engineId),
				ENGINE_CALL_TIMEOUT_MS,
			);
		} catch (error) {
			this.deps.log.warn(
				{ session_id: session.id, err: String(error) },
				"engine abort failed",
			);
		}
	}

	private endRun(session: Session, end: RunEnd): void {
		if (!session.end(end, this.deps.clock.now())) return;
		this.announce(session);
		const r = session.record;
		const level =
			end.status === "completed" || end.status === "cancelled"
				? "info"
				: "warn";
		this.deps.log[level](
			{
				session_id: r.session_id,
				status: r.status,
				code: r.error?.code,
				last_event_id: session.channel.lastId,
			},
			"session ended",
		);
	}

	private finishFromEngine(session: Session, outcome: RunOutcome): void {
		if (outcome.status === "completed") {
			const t = session.translator;
			this.endRun(session, {
				status: "completed",
				finalMessage: t.finalMessage,
				filesModified: t.filesModified,
				usage: t.usage,
			});
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

	onEngineEvent(e: EngineEvent): void {
		const child = parentSessionOf(e);
		if (child) {
			const parent = this.byEngine.get(child.parentID);
			if (parent) this.byEngine.set(child.id, parent);
		}
		const engineId = engineSessionOf(e);
		const session =
			engineId === undefined ? undefined : this.byEngine.get(engineId);
		if (!session) return;
		if (e.type === "permission.asked" || e.type === "question.asked") {
			void this.answerUnattended(session, e);
			return;
		}
		// Events of sub-agent sessions only matter for credentials and questions.
		if (engineId !== session.record.engine_session_id || session.ended) return;
		const { events, outcome } = session.translator.translate(
			e,
			this.deps.clock.now(),
		);
		for (const ev of events) session.emit(ev);
		if (outcome) this.finishFromEngine(session, outcome);
	}

	/** Nobody is there to ask: never let the run wait. */
	private async answerUnattended(
		session: Session,
		e: EngineEvent,
	): Promise<void> {
		const p = e.properties;
		const id = str(p.id);
		if (!id) return;
		const timestamp = isoTime(this.deps.clock.now());
		try {
			if (e.type === "permission.asked") {
				const message =
					"Not allowed: this session runs unattended and may only act inside the workspace.";
				await this.deps.engine.replyPermission(id, "reject", message);
				if (!session.ended) {
					session.emit({
						event: "output",
						data: {
							type: "stderr",
							text: `permission ${str(p.permission) ?? "request"} rejected: ${message}`,
							source: "sidecar",
							timestamp,
						},
					});
				}
			} else {
				const questions = Array.isArray(p.questions) ? p.questions : [];
				const answers = questions.map((q) => {
					const options =
						isObject(q) && Array.isArray(q.options) ? q.options : [];
					const first = options.find(isObject);
					return first && typeof first.label === "string" ? [first.label] : [];
				});
				await this.deps.engine.replyQuestion(id, answers);
				if (!session.ended) {
					session.emit({
						event: "output",
						data: {
							type: "stdout",
							text: `question answered with defaults: ${JSON.stringify(answers)}`,
							source: "sidecar",
							timestamp,
						},
					});
				}
			}
		} catch (error) {
			this.deps.log.warn(
				{ session_id: session.id, err: String(error) },
				"could not answer the engine's request",
			);
		}
	}

	private onEngineLost(reason: string): void {
		for (const s of this.sessions.values()) {
			if (!s.ended)
				this.endRun(s, {
					status: "failed",
					code: "engine_unavailable",
					error: `the run was lost: ${reason}`,
				});
		}
	}

	/** For the gateway: the credentials of the live session an engine call belongs to. */
	async resolveCredentials(
		engineSessionId: string,
	): Promise<SessionCredentials | undefined> {
		let session = this.byEngine.get(engineSessionId);
		if (!session) {
			// A sub-agent whose creation event has not arrived yet: ask the engine.
			const parent = await this.deps.engine
				.parentOf(engineSessionId)
				.catch(() => undefined);
			session = parent ? this.byEngine.get(parent) : undefined;
			if (session) this.byEngine.set(engineSessionId, session);
		}
		return session && !session.ended ? session.credentials : undefined;
	}

	/** Stops accepting sessions; flushes everything to disk. */
	close(): void {
		this.closing = true;
		this.stopSync?.();
		for (const u of this.unsubscribe) u();
		for (const s of this.sessions.values()) {
			s.stopTimeout?.();
			s.channel.log.sync();
		}
	}

	get shuttingDown(): boolean {
		return this.closing;
	}
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
	return new Promise<T>((resolve, reject) => {
		const t = setTimeout(
			() => reject(new Error(`timed out after ${ms} ms`)),
			ms,
		);
		promise.then(
			(v) => {
				clearTimeout(t);
				resolve(v);
			},
			(e) => {
				clearTimeout(t);
				reject(e);
			},
		);
	});
}
