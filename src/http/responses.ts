import { type TSchema, Type } from "@sinclair/typebox";
import { plainSchema } from "../lib/schema";

/** The contract's error body, as every 4xx and 5xx carries it. */
export const ErrorEnvelope = Type.Object(
	{
		error: Type.String({ description: "Human-readable message" }),
		code: Type.String({ description: "Stable machine-readable code, e.g. invalid_request, session_not_found" }),
		details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
		timestamp: Type.String({ format: "date-time" }),
	},
	{ description: "Error envelope" },
);

/** What each status means wherever it is answered (the document's response descriptions). */
const MEANING: Record<number, string> = {
	400: "Invalid request (body, parameter, header or request target); `details` names the field",
	401: "Missing or wrong bearer token (only when OPENCODE_SHARED_SECRET is set)",
	403: "Sent by a web page of another origin (`Origin` or `Sec-Fetch-Site`); `details.header` names which",
	404: "No such session (or question)",
	409: "Conflict with the session's state",
	413: "Body (declared or streamed) over MAX_BODY_BYTES",
	415: "Body not declared `application/json` (`Content-Type` missing or another type)",
	421: "`Host` is not a name the sidecar answers to (IP literals, localhost, the pod's name, ALLOWED_HOSTS)",
	503: "Not now: engine not ready, at capacity, shutting down or too many subscribers (see Retry-After)",
};

/**
 * Error responses of an operation, each with the envelope schema. Every
 * protected operation may answer 400 (bad request target), 401, 403 (foreign
 * origin), 413 (a declared Content-Length over the limit is refused before
 * routing) and 421 (foreign Host), so those are always included.
 */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
	return envelopes([400, 401, 403, 413, 421, ...statuses]);
}

/**
 * The errors an operation without a token can answer (the probes): a bad
 * request target, a foreign origin or Host, a body declared too large.
 */
export function publicErrorResponses(): Record<number, TSchema> {
	return envelopes([400, 403, 413, 421]);
}

function envelopes(statuses: number[]): Record<number, TSchema> {
	const all = new Set(statuses);
	return Object.fromEntries(
		[...all].sort().map((status) => [status, { ...ErrorEnvelope, description: MEANING[status] ?? "Error" }]),
	);
}

/** The same, as OpenAPI response objects, for routes that describe their responses by hand. */
export function documentedErrors(...statuses: number[]): Record<number, unknown> {
	return Object.fromEntries(
		Object.entries(errorResponses(...statuses)).map(([status, schema]) => [
			status,
			{ description: schema.description, content: { "application/json": { schema: plainSchema(schema) } } },
		]),
	);
}
