import type { CredentialsSource } from "../credentials/source";
import type { Engine } from "../engine/engine";
import type { SessionCredentials } from "../gateway/credentials";
import type { KeyRing } from "../gateway/key-ring";
import type { Logger } from "../lib/log";
import { PROVIDERS } from "../providers/catalogue";
import { type CallSettings, callSettingsOf, type ModelConfig, storedCallSettings } from "../providers/model-config";
import type { RunExecutor } from "./executor";
import type { SessionRegistry } from "./registry";
import type { Session } from "./session";

export interface KeysDeps {
	/** RESUME_INTERRUPTED. */
	readonly resumeInterrupted: boolean;
	readonly engine: Pick<Engine, "parentOf" | "ready">;
	readonly log: Logger;
	readonly registry: SessionRegistry;
	/** The one holder of keys: every key this class brings in is written there. */
	readonly keyRing: KeyRing;
	readonly executor: RunExecutor;
	/** CREDENTIALS_URL: where keys this process does not hold are fetched (after a restart, after a 401). */
	readonly credentials?: CredentialsSource;
	/** Whether a session's record is the sidecar's own (see SessionStore.verified): only then is its endpoint used. */
	readonly verified: (sessionId: string) => boolean;
}

/** What a session's credentials are made of (the request's model_config, or the stored record and a key). */
type CredentialSource = Pick<ModelConfig, "provider" | "api_key" | "model"> & CallSettings;

const RESTART = "the sidecar restarted while the run was in progress";

/**
 * The sessions' keys: built as plain data for the gateway, found by engine session, renewed from
 * CREDENTIALS_URL after a provider 401, fetched again after a sidecar restart. Whether a key is
 * held is the run machine's decision (see run-machine.ts); this only brings keys in.
 */
export class SessionKeys {
	constructor(private readonly deps: KeysDeps) {}

	/** The credentials of a session from its model_config. */
	build(session: Session, mc: CredentialSource, endpoint: string): SessionCredentials {
		return {
			...callSettingsOf(mc),
			sessionId: session.id,
			provider: mc.provider,
			apiKey: mc.api_key,
			endpoint,
			model: mc.model,
		};
	}

	/** The session's credentials rebuilt from its record (which keeps everything but the key). */
	fromRecord(session: Session, apiKey: string): SessionCredentials | undefined {
		const r = session.record;
		// A key goes only where the backend said: a record that did not verify may name the agent's server.
		if (!this.deps.verified(r.session_id)) return undefined;
		// An endpoint that carries credentials is not stored.
		const endpoint = (r.api_endpoint ?? PROVIDERS[r.provider].defaultEndpoint)?.replace(/\/+$/, "");
		if (!endpoint) return undefined;
		const mc = { ...storedCallSettings(r), provider: r.provider, api_key: apiKey, model: r.model };
		return this.build(session, mc, endpoint);
	}

	/** Removes every key held in memory from a text that came from outside. */
	redactAll(text: string): string {
		return this.deps.keyRing.redact(text);
	}

	/** The credentials held for a session, if any. */
	held(session: Session): SessionCredentials | undefined {
		return this.deps.keyRing.get(session.id);
	}

	/** Holds a session's credentials: a run starts with its key at hand. */
	hold(credentials: SessionCredentials): void {
		this.deps.keyRing.hold(credentials);
	}

	/** A key re-sent with a follow-up replaces the one held. */
	resent(session: Session, apiKey: string): void {
		this.deps.keyRing.rotate(session.id, apiKey);
	}

	/** For the gateway: the credentials of the live session an engine call belongs to. */
	async resolve(engineSessionId: string): Promise<SessionCredentials | undefined> {
		const { registry, engine } = this.deps;
		let session = registry.forEngine(engineSessionId);
		if (!session) {
			// A sub-agent whose creation event has not arrived yet: ask the engine.
			const parent = await engine.parentOf(engineSessionId).catch(() => undefined);
			session = parent ? registry.forEngine(parent) : undefined;
			if (session) registry.bindEngine(engineSessionId, session);
		}
		return session && !session.ended ? this.deps.keyRing.get(session.id) : undefined;
	}

	/**
	 * A run the previous process was running. Its key was only in that process's memory: with
	 * CREDENTIALS_URL it is fetched again and the run resumes like after an engine restart;
	 * without, or when the fetch fails, the run ends `failed interrupted`.
	 */
	afterRestart(session: Session): void {
		const { credentials: source, executor, log } = this.deps;
		const fetching = source !== undefined && this.deps.resumeInterrupted && !!session.record.engine_session_id;
		void executor.dispatch(session, { type: "restarted", fetching });
		if (!source || !fetching) return;
		if (!this.deps.verified(session.id)) {
			// No key is asked for: its record (endpoint, model, tools) is not the sidecar's own.
			const error = `${RESTART}; its stored record failed verification, so it is not resumed`;
			void executor.dispatch(session, { type: "keyLost", error });
			return;
		}
		const { session_id, provider } = session.record;
		source.fetchKey({ sessionId: session_id, provider, reason: "restart" }).then(
			(key) => {
				if (!session.awaitingResume || session.run.closed) return;
				const credentials = this.fromRecord(session, key);
				if (!credentials) {
					void executor.dispatch(session, { type: "keyLost", error: `${RESTART}; its endpoint was not stored` });
					return;
				}
				this.deps.keyRing.hold(credentials);
				void executor.dispatch(session, { type: "keyFetched", engineReady: this.deps.engine.ready });
			},
			(error: unknown) => {
				if (session.ended || session.run.closed) return;
				const cause = error instanceof Error ? error.message : String(error);
				log.warn({ session_id, reason: cause }, "key not fetched after restart");
				void executor.dispatch(session, { type: "keyLost", error: `${RESTART}; ${cause}` });
			},
		);
	}

	/**
	 * For the gateway: the provider answered 401 to a call of a live run: asks CREDENTIALS_URL once
	 * for a new key. A failed fetch ends the run `failed interrupted`, naming the cause.
	 */
	async renew(engineSessionId: string, rejected: string): Promise<string | undefined> {
		const { credentials: source, registry, log, executor } = this.deps;
		const session = registry.forEngine(engineSessionId);
		if (!source || !session || session.ended) return undefined;
		const { session_id, provider } = session.record;
		try {
			const key = await source.fetchKey({ sessionId: session_id, provider, reason: "unauthorized" });
			// The same key again: the backend has nothing newer, and the 401 stands.
			if (session.ended || key === rejected || !this.deps.keyRing.rotate(session.id, key)) return undefined;
			log.info({ session_id }, "new key fetched after a provider 401");
			return key;
		} catch (error) {
			if (session.ended) return undefined;
			const cause = error instanceof Error ? error.message : String(error);
			log.warn({ session_id, reason: cause }, "key not fetched after a provider 401");
			void executor.dispatch(session, { type: "keyLost", error: `the provider rejected the key (401); ${cause}` });
			return undefined;
		}
	}

	/** Whether a follow-up on this ended session can fetch its key (CREDENTIALS_URL is set). */
	get canFetch(): boolean {
		return this.deps.credentials !== undefined;
	}

	/** The key of an ended session whose key died with a restart of the sidecar, for a follow-up. */
	async fetchForFollowUp(session: Session): Promise<string> {
		const source = this.deps.credentials;
		if (!source) throw new Error("no CREDENTIALS_URL");
		const { session_id, provider } = session.record;
		try {
			return await source.fetchKey({ sessionId: session_id, provider, reason: "restart" });
		} catch (error) {
			const cause = error instanceof Error ? error.message : String(error);
			this.deps.log.warn({ session_id, reason: cause }, "key not fetched for a follow-up");
			throw error;
		}
	}
}
