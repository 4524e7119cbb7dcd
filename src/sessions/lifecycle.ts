import type { ErrorCode, LoggedEvent, SessionStatusName, Usage } from "../events/catalogue";

/** How a run ends, from any cause: the engine, a cancel, a timeout, a restart. */
export type RunEnd =
	| {
			readonly status: "completed";
			readonly finalMessage: string;
			readonly filesModified: string[];
			readonly usage: Usage;
	  }
	| {
			readonly status: Exclude<SessionStatusName, "completed" | "running" | "pending">;
			readonly code: ErrorCode;
			readonly error: string;
	  };

/**
 * The last two events of every run: a `status` with the final status, then
 * exactly one terminal event (`complete`, or a fatal `error` with a code).
 */
export function terminalEvents(end: RunEnd, timestamp: string): [LoggedEvent, LoggedEvent] {
	const status: LoggedEvent = {
		event: "status",
		data: { status: end.status, timestamp },
	};
	if (end.status === "completed") {
		return [
			status,
			{
				event: "complete",
				data: {
					final_message: end.finalMessage,
					files_modified: end.filesModified,
					usage: end.usage,
					timestamp,
				},
			},
		];
	}
	return [
		status,
		{
			event: "error",
			data: { error: end.error, fatal: true, code: end.code, timestamp },
		},
	];
}
