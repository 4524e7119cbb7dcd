import type { ProviderName } from "../providers/catalogue";
import type { CallParameters } from "./rewrite";

/** What the gateway needs to make one session's LLM calls: plain data, in memory only. */
export interface SessionCredentials extends CallParameters {
	readonly sessionId: string;
	readonly provider: ProviderName;
	readonly apiKey: string;
	/** Base URL of the provider's API, without a trailing slash. */
	readonly endpoint: string;
}

/** Finds the credentials of a live session from the engine session id of a call. */
export type CredentialResolver = (engineSessionId: string) => Promise<SessionCredentials | undefined>;

/**
 * The provider answered 401 to a call of this engine session with `rejectedKey`: a new key for its
 * session (from CREDENTIALS_URL), or undefined when there is none (the 401 then stands).
 */
export type KeyRenewal = (engineSessionId: string, rejectedKey: string) => Promise<string | undefined>;

/**
 * What the gateway reports about the calls it forwards, keyed by the engine session that made
 * them. It only reports; the sessions layer decides what each means for a run.
 */
export type GatewaySignal =
	/** A call was accepted and is being sent to the provider. */
	| { readonly kind: "call"; readonly engineSessionId: string; readonly provider: ProviderName }
	/** The provider answered with this HTTP status (the engine's retry events do not carry it). */
	| { readonly kind: "upstream"; readonly engineSessionId: string; readonly status: number }
	/** The provider sent nothing for PROVIDER_IDLE_TIMEOUT; the call was ended. */
	| { readonly kind: "stalled"; readonly engineSessionId: string; readonly message: string }
	/** A parameter of the session could not be applied as asked. */
	| { readonly kind: "notice"; readonly engineSessionId: string; readonly message: string };

/** Replaces every occurrence of `secret` in `text`. */
export function scrub(text: string, secret: string): string {
	return secret.length === 0 ? text : text.split(secret).join("[REDACTED]");
}
