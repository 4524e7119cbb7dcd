import { AppError, SessionExists } from "./errors";

/** The contract's error body: `{error, code, details?, timestamp}`. */
export function envelope(error: AppError, timestamp: string): Response {
	const body: Record<string, unknown> = {
		error: error.message,
		code: error.code,
	};
	if (error.details) body.details = error.details;
	body.timestamp = timestamp;
	if (error instanceof SessionExists) body.session = error.existing;
	return Response.json(body, { status: error.status, headers: error.headers });
}

export class InternalError extends AppError {
	readonly code = "internal_error";
	readonly status = 500;
	constructor() {
		super("internal error");
	}
}
