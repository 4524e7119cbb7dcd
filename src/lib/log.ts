import pino, { type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "../config/parse";

/**
 * Field paths removed from every log line. The design keeps keys out of log
 * calls altogether; this is the second line of defence.
 */
export const REDACT_PATHS = [
	"api_key",
	"apiKey",
	"*.api_key",
	"*.apiKey",
	"model_config.api_key",
	"*.model_config.api_key",
	"headers.authorization",
	"headers['x-api-key']",
	"*.headers.authorization",
	"password",
	"*.password",
	"secret",
	"*.secret",
];

/**
 * JSON lines on stdout (or `destination`), with redaction applied. With `traceIdOf` (tracing on),
 * every line about a session (`session_id`) also names the trace of its newest run (`trace_id`).
 */
export function createLogger(
	level: LogLevel,
	destination?: DestinationStream,
	traceIdOf?: (sessionId: string) => string | undefined,
): Logger {
	return pino(
		{
			...(traceIdOf
				? {
						mixin: (line: object) => {
							const id = (line as { session_id?: unknown }).session_id;
							const traceId = typeof id === "string" ? traceIdOf(id) : undefined;
							return traceId === undefined ? {} : { trace_id: traceId };
						},
					}
				: {}),
			level,
			base: { service: "opencode-sidecar" },
			timestamp: pino.stdTimeFunctions.isoTime,
			redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
			formatters: { level: (label) => ({ level: label }) },
		},
		destination,
	);
}

export type { Logger };
