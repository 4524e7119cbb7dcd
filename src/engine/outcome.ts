import type { ErrorCode, LoggedEvent } from "../events/catalogue";
import { isObject, type Json, num, str } from "./events";

/** How a run ended, as far as the engine tells. */
export type RunOutcome =
	| { readonly status: "completed" }
	| {
			readonly status: "failed";
			readonly code: ErrorCode;
			readonly error: string;
	  }
	| { readonly status: "aborted" };

/** A run the engine ended other than by completing it. */
export type FailedOutcome = Exclude<RunOutcome, { readonly status: "completed" }>;

/** A `session.status` retry as a non-fatal `error` event. */
export function retryError(
	status: Json,
	nowMs: number,
	timestamp: string,
	redact: (text: string) => string,
): LoggedEvent {
	const message = redact(str(status.message) ?? "provider asked to retry");
	const next = num(status.next);
	const attempt = num(status.attempt);
	const rateLimited = /rate.?limit|too many requests|429/i.test(message);
	return {
		event: "error",
		data: {
			error: attempt === undefined ? message : `${message} (attempt ${attempt})`,
			fatal: false,
			...(next === undefined ? {} : { retry_after: Math.max(0, Math.ceil((next - nowMs) / 1000)) }),
			code: rateLimited ? "provider_rate_limited" : "provider_error",
			timestamp,
		},
	};
}

/** How a `session.error` (or an answer stored with an error) ends the run. */
export function errorOutcome(error: unknown, redact: (text: string) => string): FailedOutcome {
	const e = isObject(error) ? error : {};
	const name = str(e.name) ?? "UnknownError";
	if (name === "MessageAbortedError") return { status: "aborted" };
	const data = isObject(e.data) ? e.data : {};
	const message = redact(str(data.message) ?? name);
	const statusCode = num(data.statusCode);
	if (name === "APIError" || statusCode !== undefined) {
		if (statusCode === 401 || statusCode === 403) {
			return {
				status: "failed",
				code: "provider_auth",
				error: `provider rejected the credentials (${statusCode}): ${message}`,
			};
		}
		return {
			status: "failed",
			code: "provider_error",
			error: statusCode === undefined ? message : `provider error (${statusCode}): ${message}`,
		};
	}
	if (name === "ProviderAuthError") return { status: "failed", code: "provider_auth", error: message };
	return {
		status: "failed",
		code: "engine_error",
		error: `${name}: ${message}`,
	};
}
