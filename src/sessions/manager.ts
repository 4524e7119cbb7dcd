import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/parse";
import { engineModelFor } from "../engine/config";
import type { Engine } from "../engine/engine";
import { type EngineEvent, engineSessionOf, isObject, parentSessionOf, str } from "../engine/events";
import { toolSwitches } from "../engine/tools";
import { type RunOutcome, RunTranslator } from "../engine/translate";
import type { StoredEvent } from "../events/catalogue";
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
import type { Cancel, Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import type { Logger } from "../lib/log";
import { PROVIDERS, type ProviderName } from "../providers/catalogue";
import { type ConversationMessage, toConversation } from "./conversation";
import { type FileChange, sessionChanges } from "./diff";
import { CredentialsUnavailable, QuestionNotFound, SessionNotContinuable } from "./errors";
import type { RunEnd } from "./lifecycle";
import { decidePermission } from "./permission-policy";
import { answersProblem, defaultAnswers, parseQuestions, type Question } from "./questions";
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
	/** Told about every stored event (for metrics). */
	readonly onStored?: (event: StoredEvent) => void;
}

const ENGINE_CALL_TIMEOUT_MS = 10_000;
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

interface OpenQuestion {
	readonly session: Session;
	readonly questions: Question[];
	readonly defaults: string[][];
	readonly cancelTimer: Cancel;
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
	private readonly questions = new Map<string, OpenQuestion>();
	private readonly unsubscribe: (() => void)[] = [];
	private readonly lifecycleListeners = new Set<(e: LifecycleEvent) => void>();
	private closing = false;
	private stopSync: (() => void) | undefined;

	constructor(private readonly deps: SessionManagerDeps) {}

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
			const session = this.newSession(record, new EventChannel(log, this.deps.onStored));
			this.sessions.set(record.session_id, session);
			if (record.engine_session_id) this.byEngine.set(record.engine_session_id, session);
			if (!session.ended) {
				// Its key was only in the memory of the previous process: the run cannot be resumed.
				this.endRun(session, {
					status: "failed",
					code: "interrupted",
					error:
						"the sidecar restarted while the run was in progress; its API key was not kept, so the run cannot resume",
				});
			}
		}
		this.unsubscribe.push(this.deps.engine.onEvent((e) => this.onEngineEvent(e)));
		this.unsubscribe.push(this.deps.engine.onLost((reason) => this.onEngineLost(reason)));
		this.unsubscribe.push(this.deps.engine.onReady(() => this.resumeInterrupted()));
		// Events are written to the kernel at once; flush running logs to disk every second.
		this.stopSync = this.deps.clock.setInterval(() => {
			for (const s of this.sessions.values()) if (!s.ended) s.channel.log.sync();
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

	async create(body: CreateSessionBody): Promise<SessionStatus> {
		const { clock, engine, log } = this.deps;
		const mc = body.model_config;
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
			...(body.system_prompt === undefined ? {} : { system_prompt: body.system_prompt }),
			created_at: now,
			started_at: null,
			updated_at: now,
			ended_at: null,
			cancelled_at: null,
			files_modified: [],
		};
		// Registered before the first await, so a concurrent duplicate gets 409 and capacity holds.
		const session = this.newSession(record, new EventChannel(this.deps.store.create(record), this.deps.onStored));
		this.sessions.set(record.session_id, session);
		let engineSessionId: string | undefined;
		try {
			engineSessionId = await withTimeout(engine.createSession(`sidecar ${record.session_id}`), ENGINE_CALL_TIMEOUT_MS);
			record.engine_session_id = engineSessionId;
			this.byEngine.set(engineSessionId, session);
			session.credentials = this.credentialsFor(session, mc, endpoint);
			await this.startRun(session, body.prompt);
		} catch (error) {
			// Nothing was promised yet: forget the session so the backend can simply retry.
			log.error({ session_id: record.session_id, err: String(error) }, "engine refused the session");
			this.forget(session, engineSessionId);
			throw new EngineUnavailable("it did not accept the session");
		}
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

	/** Sends one prompt as a new run of the session (first prompt, follow-up or resume). */
	private async startRun(session: Session, prompt: string): Promise<void> {
		const engineId = session.record.engine_session_id;
		if (!engineId) throw new Error("session has no engine session");
		session.translator.beginRun();
		session.begin(this.deps.clock.now());
		await withTimeout(
			this.deps.engine.prompt(engineId, {
				text: prompt,
				...(session.record.system_prompt === undefined ? {} : { system: session.record.system_prompt }),
				tools: toolSwitches(session.record.enabled_tools),
				model: engineModelFor(session.record.provider),
			}),
			ENGINE_CALL_TIMEOUT_MS,
		);
		session.stopTimeout?.();
		session.stopTimeout = this.deps.clock.setTimeout(() => this.timeOut(session), this.deps.config.sessionTimeoutMs);
		this.announce(session);
	}

	private forget(session: Session, engineSessionId: string | undefined): void {
		session.credentials = undefined;
		session.translator.endRun();
		session.stopTimeout?.();
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
		};
	}

	/**
	 * A follow-up message. During a run it waits for that run to complete and
	 * then starts its own run; after a completed run it starts one now, with
	 * the whole conversation as context.
	 */
	async followUp(
		id: string,
		prompt: string,
		apiKey: string | undefined,
	): Promise<{ status: SessionStatus; queued: number }> {
		const session = this.get(id);
		const r = session.record;
		if (r.status === "cancelled" || r.status === "failed" || r.status === "timeout") {
			throw new SessionNotContinuable(r.status);
		}
		if (apiKey !== undefined && session.credentials) session.credentials = { ...session.credentials, apiKey };
		if (!session.ended) {
			session.queue.push(prompt);
			return { status: session.status(), queued: session.queue.length };
		}
		if (!session.credentials) {
			if (apiKey === undefined) throw new CredentialsUnavailable();
			// The record keeps everything but the key and endpoint: the default endpoint is all we can restore.
			const endpoint = PROVIDERS[r.provider].defaultEndpoint;
			if (!endpoint) throw new CredentialsUnavailable();
			session.credentials = this.credentialsFor(
				session,
				{
					provider: r.provider,
					api_key: apiKey,
					model: r.model,
					temperature: 1,
					max_tokens: 4096,
				},
				endpoint,
			);
		}
		this.admit();
		await this.startRunOrFail(session, prompt);
		return { status: session.status(), queued: 0 };
	}

	private async startRunOrFail(session: Session, prompt: string): Promise<void> {
		try {
			await this.startRun(session, prompt);
		} catch (error) {
			this.deps.log.error({ session_id: session.id, err: String(error) }, "engine refused the run");
			this.endRun(session, {
				status: "failed",
				code: "engine_unavailable",
				error: "the engine did not accept the run",
			});
		}
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
			await withTimeout(this.deps.engine.abort(engineId), ENGINE_CALL_TIMEOUT_MS);
		} catch (error) {
			this.deps.log.warn({ session_id: session.id, err: String(error) }, "engine abort failed");
		}
	}

	private endRun(session: Session, end: RunEnd): void {
		if (session.ended) return;
		const now = this.deps.clock.now();
		for (const [id, q] of this.questions) {
			if (q.session === session) {
				q.cancelTimer();
				this.questions.delete(id);
			}
		}
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
		if (next !== undefined) void this.startRunOrFail(session, next);
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
		const session = engineId === undefined ? undefined : this.byEngine.get(engineId);
		if (!session) return;
		if (e.type === "permission.asked") {
			void this.answerPermission(session, e);
			return;
		}
		if (e.type === "question.asked") {
			this.openQuestion(session, e);
			return;
		}
		// Events of sub-agent sessions only matter for credentials, permissions and questions.
		if (engineId !== session.record.engine_session_id || session.ended) return;
		const { events, outcome } = session.translator.translate(e, this.deps.clock.now());
		for (const ev of events) session.emit(ev);
		if (outcome) this.finishFromEngine(session, outcome);
	}

	/** PERMISSION_POLICY decides; the agent is told why on a rejection, and the stream shows the decision. */
	private async answerPermission(session: Session, e: EngineEvent): Promise<void> {
		const p = e.properties;
		const id = str(p.id);
		if (!id) return;
		const metadata = isObject(p.metadata) ? p.metadata : {};
		const ask = {
			id,
			permission: str(p.permission) ?? "unknown",
			patterns: (Array.isArray(p.patterns) ? p.patterns : []).filter((x): x is string => typeof x === "string"),
			paths: [str(metadata.filepath), str(metadata.parentDir)].filter((x): x is string => x !== undefined),
		};
		const decision = decidePermission(ask, this.deps.config.permissionPolicy, this.deps.config.workspaceDir);
		if (!session.ended) {
			session.emit({
				event: "permission",
				data: {
					permission_id: id,
					permission: ask.permission,
					patterns: ask.patterns,
					decision: decision.decision,
					reason: decision.reason,
					timestamp: isoTime(this.deps.clock.now()),
				},
			});
		}
		try {
			await this.deps.engine.replyPermission(
				id,
				decision.decision === "allow" ? "once" : "reject",
				decision.decision === "reject" ? decision.reason : undefined,
			);
		} catch (error) {
			this.deps.log.warn({ session_id: session.id, err: String(error) }, "could not answer a permission request");
		}
	}

	private openQuestion(session: Session, e: EngineEvent): void {
		const id = str(e.properties.id);
		if (!id || session.ended || this.questions.has(id)) return;
		const questions = parseQuestions(e.properties);
		const defaults = defaultAnswers(questions);
		const timeoutMs = this.deps.config.questionTimeoutMs;
		const now = this.deps.clock.now();
		const cancelTimer = this.deps.clock.setTimeout(() => {
			void this.answerQuestion(session.id, id, defaults, "timeout").catch(() => {});
		}, timeoutMs);
		this.questions.set(id, { session, questions, defaults, cancelTimer });
		session.emit({
			event: "question",
			data: {
				question_id: id,
				questions,
				default: defaults,
				expires_at: isoTime(now + timeoutMs),
				timestamp: isoTime(now),
			},
		});
	}

	/** Answers an open question, from a client or from the timeout with its default. */
	async answerQuestion(
		sessionId: string,
		questionId: string,
		answers: string[][],
		by: "client" | "timeout" = "client",
	): Promise<{ question_id: string; answers: string[][] }> {
		const session = this.get(sessionId);
		const open = this.questions.get(questionId);
		if (!open || open.session !== session) throw new QuestionNotFound();
		const problem = answersProblem(open.questions, answers);
		if (problem) throw new ValidationFailed("answers", problem);
		this.questions.delete(questionId);
		open.cancelTimer();
		const text =
			by === "client"
				? `Question answered: ${JSON.stringify(answers)}\n`
				: `Nobody answered within QUESTION_TIMEOUT (${this.deps.config.questionTimeoutMs / 1000}s); answered with the default: ${JSON.stringify(answers)}\n`;
		session.emit({
			event: "output",
			data: {
				type: "stdout",
				text,
				source: "sidecar",
				timestamp: isoTime(this.deps.clock.now()),
			},
		});
		await this.deps.engine.replyQuestion(questionId, answers);
		return { question_id: questionId, answers };
	}

	/** The engine process died: runs it held wait for the new one and are resumed, if their key is still held. */
	private onEngineLost(reason: string): void {
		const timestamp = isoTime(this.deps.clock.now());
		for (const s of this.sessions.values()) {
			if (s.ended || s.awaitingResume) continue;
			if (!s.credentials) {
				this.endRun(s, {
					status: "failed",
					code: "engine_unavailable",
					error: `the run was lost: ${reason}`,
				});
				continue;
			}
			s.awaitingResume = true;
			s.translator.endRun();
			s.emit({
				event: "error",
				data: {
					error: `${reason}; the run resumes when the engine is back`,
					fatal: false,
					code: "interrupted",
					timestamp,
				},
			});
		}
	}

	private resumeInterrupted(): void {
		for (const s of this.sessions.values()) {
			if (s.ended || !s.awaitingResume) continue;
			s.awaitingResume = false;
			this.deps.log.info({ session_id: s.id }, "resuming interrupted run");
			void this.startRunOrFail(s, RESUME_PROMPT);
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
		return sessionChanges(await this.engineMessages(id));
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
		return withTimeout(this.deps.engine.messages(engineId), ENGINE_CALL_TIMEOUT_MS);
	}

	/** Stops accepting sessions; flushes everything to disk. */
	close(): void {
		this.closing = true;
		this.stopSync?.();
		for (const u of this.unsubscribe) u();
		for (const q of this.questions.values()) q.cancelTimer();
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
		const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
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
