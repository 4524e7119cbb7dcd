import { AppError } from "../http/errors";

export class SessionNotContinuable extends AppError {
	readonly code = "session_not_continuable";
	readonly status = 409;
	constructor(status: string) {
		super(`the session ended ${status}; start a new session`);
		this.details = { status };
	}
}

export class CredentialsUnavailable extends AppError {
	readonly code = "credentials_unavailable";
	readonly status = 409;
	/** `cause`: why CREDENTIALS_URL did not give it. */
	constructor(cause?: string) {
		super(
			cause === undefined
				? "the session's API key is no longer held (the sidecar restarted); send api_key with the message"
				: `the session's API key is no longer held (the sidecar restarted) and was not fetched: ${cause}; send api_key with the message`,
		);
	}
}

export class QuestionNotFound extends AppError {
	readonly code = "question_not_found";
	readonly status = 404;
	constructor() {
		super("no open question with this id in this session");
	}
}

export class SessionUnverified extends AppError {
	readonly code = "session_unverified";
	readonly status = 409;
	constructor() {
		super(
			"the session's stored record could not be verified (changed on disk, written by an older version, or by an earlier process without OPENCODE_SHARED_SECRET): it is not run again; start a new session",
		);
	}
}
