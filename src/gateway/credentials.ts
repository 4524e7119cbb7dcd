import type { ProviderName } from "../providers/catalogue";
import type { CallParameters } from "./rewrite";

/** What the gateway needs to make one session's LLM calls. Lives in memory only. */
export interface SessionCredentials extends CallParameters {
	readonly sessionId: string;
	readonly provider: ProviderName;
	readonly apiKey: string;
	/** Base URL of the provider's API, without a trailing slash. */
	readonly endpoint: string;
	/** Tells the session's stream that a parameter could not be applied as asked. */
	readonly notice: (message: string) => void;
	/** The provider went silent past PROVIDER_IDLE_TIMEOUT: the run is failed. */
	readonly stalled: (message: string) => void;
	/** The HTTP status of each provider response (the engine's retry events do not carry it). */
	readonly upstreamStatus?: (status: number) => void;
	/**
	 * The provider answered 401 with `rejected`: a new key for the session (from CREDENTIALS_URL), or
	 * undefined when there is none (the 401 then stands). Absent without CREDENTIALS_URL.
	 */
	readonly renew?: (rejected: string) => Promise<string | undefined>;
}

/** Finds the credentials of a live session from the engine session id of a call. */
export type CredentialResolver = (engineSessionId: string) => Promise<SessionCredentials | undefined>;

/** Replaces every occurrence of `secret` in `text`. */
export function scrub(text: string, secret: string): string {
	return secret.length === 0 ? text : text.split(secret).join("[REDACTED]");
}
