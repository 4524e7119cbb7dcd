import { isObject, type Json, num, str } from "../events";

/**
 * A 2.x structured error (`{type, message, status?}`, on a failed run, step or answer) in the
 * shape the shared outcome reads (engine/outcome.ts, 1.x's `{name, data: {message,
 * statusCode}}`): a provider's HTTP status makes it an `APIError`, as 1.x named it. Pure.
 */
export function engineError(error: unknown): Json {
	const e = isObject(error) ? error : {};
	const message = str(e.message) ?? "the engine failed the run";
	const status = num(e.status);
	if (status !== undefined) return { name: "APIError", data: { message, statusCode: status } };
	const type = str(e.type) ?? "UnknownError";
	if (/abort|interrupt/i.test(type)) return { name: "MessageAbortedError", data: { message } };
	return { name: type, data: { message } };
}
