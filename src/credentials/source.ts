import { declaredLength, readAtMost } from "../lib/bounded-read";
import type { Clock } from "../lib/clock";
import { deadline } from "../lib/timeout";
import type { ProviderName } from "../providers/catalogue";
import type { Tracing } from "../telemetry/port";

/**
 * The backend's credentials endpoint (CREDENTIALS_URL): where the sidecar asks
 * for a session's API key when it needs one it does not hold. A key obtained
 * here is held in memory only, like one from `POST /sessions`.
 *
 *   POST <CREDENTIALS_URL>
 *   Authorization: Bearer <OPENCODE_SHARED_SECRET>
 *   {"session_id": "…", "provider": "openai", "reason": "restart" | "unauthorized"}
 *   → 200 {"api_key": "…"}     anything else is a failure
 *
 * See API_CONTRACT.md, "Credentials source".
 */
export type CredentialsReason = "restart" | "unauthorized";

export interface CredentialsRequest {
	readonly sessionId: string;
	readonly provider: ProviderName;
	readonly reason: CredentialsReason;
}

/** The endpoint did not give a key; the message names why (never the key nor the secret). */
export class CredentialsFetchFailed extends Error {
	constructor(message: string) {
		super(message);
		this.name = "CredentialsFetchFailed";
	}
}

export interface CredentialsSourceOptions {
	readonly url: string;
	/** Sent as the bearer token: the same secret the backend uses towards the sidecar. */
	readonly secret: string;
	readonly timeoutMs: number;
	/** Times `timeoutMs`. */
	readonly clock: Clock;
	readonly fetch?: typeof fetch;
	/** A span for each wait on the endpoint (off: none). */
	readonly tracing?: Tracing;
}

/** The largest answer read (an `api_key` is a few hundred bytes); a bigger one is a failure, refused while reading. */
export const MAX_ANSWER_BYTES = 64 * 1024;

const TOO_LARGE = `the credentials endpoint's answer is larger than ${MAX_ANSWER_BYTES / 1024} KiB (the limit)`;

/** Reads the endpoint's answer. Pure: the key, or why there is none. */
export function readCredentialsAnswer(status: number, body: string): { apiKey: string } | { error: string } {
	if (status !== 200) return { error: `the credentials endpoint answered HTTP ${status}` };
	let parsed: unknown;
	try {
		parsed = JSON.parse(body);
	} catch {
		return { error: "the credentials endpoint's answer is not JSON" };
	}
	const key = typeof parsed === "object" && parsed !== null ? (parsed as { api_key?: unknown }).api_key : undefined;
	if (typeof key !== "string" || key.trim() === "") {
		return { error: "the credentials endpoint's answer has no api_key string" };
	}
	return { apiKey: key };
}

/**
 * The answer's text: nothing is read for a status other than 200 (the status
 * is the failure); past MAX_ANSWER_BYTES, declared or streamed, a failure.
 */
async function answerText(res: Response): Promise<string> {
	const tooLarge = res.status === 200 && (declaredLength(res.headers) ?? 0) > MAX_ANSWER_BYTES;
	if (res.status !== 200 || tooLarge) {
		await res.body?.cancel().catch(() => undefined);
		if (tooLarge) throw new CredentialsFetchFailed(TOO_LARGE);
		return "";
	}
	const bytes = await readAtMost(res.body, MAX_ANSWER_BYTES);
	if (bytes === undefined) throw new CredentialsFetchFailed(TOO_LARGE);
	return new TextDecoder().decode(bytes);
}

export class CredentialsSource {
	/** One request at a time per session and reason: concurrent 401s of one run share it. */
	private readonly inFlight = new Map<string, Promise<string>>();
	private readonly doFetch: typeof fetch;

	constructor(private readonly options: CredentialsSourceOptions) {
		this.doFetch = options.fetch ?? fetch;
	}

	/** The session's key from the backend; rejects with `CredentialsFetchFailed`, never hangs. */
	fetchKey(request: CredentialsRequest): Promise<string> {
		const id = `${request.sessionId}\n${request.reason}`;
		const pending = this.inFlight.get(id);
		if (pending) return pending;
		const waited = this.options.tracing?.keyWait(request.sessionId, request.reason);
		const started = this.ask(request).finally(() => this.inFlight.delete(id));
		if (waited)
			started.then(
				() => waited(),
				(error: unknown) => waited(String(error)),
			);
		this.inFlight.set(id, started);
		return started;
	}

	private async ask(request: CredentialsRequest): Promise<string> {
		const { url, secret, timeoutMs, clock } = this.options;
		const limit = deadline(clock, timeoutMs);
		try {
			const res = await this.doFetch(url, {
				method: "POST",
				headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${secret}` },
				body: JSON.stringify({ session_id: request.sessionId, provider: request.provider, reason: request.reason }),
				// A redirect would carry the secret elsewhere: it counts as a failure.
				redirect: "manual",
				signal: limit.signal,
			});
			const answer = readCredentialsAnswer(res.status, await answerText(res));
			if ("error" in answer) throw new CredentialsFetchFailed(answer.error);
			return answer.apiKey;
		} catch (error) {
			if (error instanceof CredentialsFetchFailed) throw error;
			if (limit.signal.aborted) {
				throw new CredentialsFetchFailed(
					`the credentials endpoint did not answer within ${timeoutMs / 1000}s (CREDENTIALS_TIMEOUT)`,
				);
			}
			const reason = error instanceof Error ? error.message : String(error);
			throw new CredentialsFetchFailed(`the credentials endpoint could not be reached (${reason})`);
		} finally {
			limit.cancel();
		}
	}
}
