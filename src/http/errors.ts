/**
 * Typed errors with stable codes. Services throw these; one handler
 * (`error-handler.ts`) turns them into the contract's envelope.
 */
export abstract class AppError extends Error {
	abstract readonly code: string;
	abstract readonly status: number;
	/** Extra response headers, e.g. Retry-After. */
	headers: Record<string, string> = {};
	/** Goes into the envelope's `details`. Must never hold input values. */
	details: Record<string, unknown> | undefined;
}

export class ValidationFailed extends AppError {
	readonly code = "invalid_request";
	readonly status = 400;
	constructor(field: string, reason: string) {
		super(`invalid request: ${field} ${reason}`);
		this.details = { field, reason };
	}
}

export class MalformedJson extends AppError {
	readonly code = "malformed_json";
	readonly status = 400;
	constructor() {
		super("request body is not valid JSON");
	}
}

export class BodyTooLarge extends AppError {
	readonly code = "body_too_large";
	readonly status = 413;
	constructor(limit: number) {
		super(`request body is larger than ${limit} bytes`);
		this.details = { limit_bytes: limit };
	}
}

export class UnsupportedMediaType extends AppError {
	readonly code = "unsupported_media_type";
	readonly status = 415;
	constructor() {
		super("request body must be application/json");
	}
}

/**
 * 421, not 403: the request reached a server that does not answer for the
 * name it was sent to (RFC 9110 §15.5.20); no credential would change that.
 */
export class MisdirectedRequest extends AppError {
	readonly code = "misdirected_request";
	readonly status = 421;
	constructor() {
		super(
			"the sidecar does not answer to this Host: use its IP address, localhost, the pod's name or a name of ALLOWED_HOSTS",
		);
	}
}

/** A request made by a web page of another origin (its `Origin` or `Sec-Fetch-Site` says so). */
export class CrossOriginRequest extends AppError {
	readonly code = "cross_origin_request";
	readonly status = 403;
	constructor(header: "Origin" | "Sec-Fetch-Site") {
		super(`requests from a web page of another origin are refused (${header})`);
		this.details = { header };
	}
}

export class Unauthorized extends AppError {
	readonly code = "unauthorized";
	readonly status = 401;
	constructor() {
		super("missing or wrong bearer token");
		this.headers = { "WWW-Authenticate": 'Bearer realm="opencode-sidecar"' };
	}
}

export class RouteNotFound extends AppError {
	readonly code = "not_found";
	readonly status = 404;
	constructor() {
		super("no such route");
	}
}

export class MethodNotAllowed extends AppError {
	readonly code = "method_not_allowed";
	readonly status = 405;
	constructor(allowed: string[]) {
		super("method not allowed on this route");
		this.headers = { Allow: allowed.join(", ") };
	}
}

export class SessionNotFound extends AppError {
	readonly code = "session_not_found";
	readonly status = 404;
	constructor() {
		super("session not found");
	}
}

export class SessionExists extends AppError {
	readonly code = "session_exists";
	readonly status = 409;
	constructor(readonly existing: unknown) {
		super("a session with this session_id already exists");
	}
}

export class CapacityExceeded extends AppError {
	readonly code = "too_many_sessions";
	readonly status = 503;
	constructor(limit: number, retryAfterSeconds: number) {
		super(`${limit} sessions are already running (MAX_CONCURRENT_SESSIONS)`);
		this.details = { limit };
		this.headers = { "Retry-After": String(retryAfterSeconds) };
	}
}

export class EngineUnavailable extends AppError {
	readonly code = "engine_unavailable";
	readonly status = 503;
	constructor(reason: string) {
		super(`the OpenCode engine is not available: ${reason}`);
		this.headers = { "Retry-After": "5" };
	}
}

export class ShuttingDown extends AppError {
	readonly code = "shutting_down";
	readonly status = 503;
	constructor() {
		super("the sidecar is shutting down");
		this.headers = { "Retry-After": "5" };
	}
}

export class TooManySubscribers extends AppError {
	readonly code = "too_many_subscribers";
	readonly status = 503;
	constructor(limit: number) {
		super(`this session already has ${limit} open streams (MAX_SUBSCRIBERS_PER_SESSION)`);
		this.details = { limit };
		this.headers = { "Retry-After": "5" };
	}
}
