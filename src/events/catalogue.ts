import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { literalUnion } from "../lib/schema";

/**
 * The typed catalogue of stream events: each SSE event name is declared once
 * with its payload schema. The stream, the OpenAPI document, API_CONTRACT.md
 * and the tests all use this catalogue.
 */

const Timestamp = Type.String({
	format: "date-time",
	description: "ISO 8601, UTC",
});

export const SESSION_STATUSES = ["pending", "running", "completed", "failed", "cancelled", "timeout"] as const;
export const SessionStatusName = literalUnion(SESSION_STATUSES, {
	description: "pending → running → completed | failed | cancelled | timeout",
});
export type SessionStatusName = Static<typeof SessionStatusName>;
export const TERMINAL_STATUSES: ReadonlySet<SessionStatusName> = new Set([
	"completed",
	"failed",
	"cancelled",
	"timeout",
]);

export const Usage = Type.Object(
	{
		input_tokens: Type.Integer({ minimum: 0 }),
		output_tokens: Type.Integer({ minimum: 0 }),
		reasoning_tokens: Type.Integer({ minimum: 0 }),
		cache_read_tokens: Type.Integer({ minimum: 0 }),
		cache_write_tokens: Type.Integer({ minimum: 0 }),
		cost: Type.Number({
			minimum: 0,
			description: "As computed by the engine from its model catalogue (USD)",
		}),
	},
	{ description: "Token usage summed over the session's LLM calls" },
);
export type Usage = Static<typeof Usage>;

/** Stable machine-readable codes carried by `error` events and by failed sessions. */
export const ERROR_CODES = [
	"cancelled",
	"timeout",
	"interrupted",
	"provider_auth",
	"provider_rate_limited",
	"provider_error",
	"engine_error",
	"engine_unavailable",
	"parameter_ignored",
	"provider_timeout",
	"history_unverified",
	"memory_pressure",
] as const;
export const ErrorCode = literalUnion(ERROR_CODES);
export type ErrorCode = Static<typeof ErrorCode>;

export const OutputData = Type.Object({
	type: Type.Union([Type.Literal("stdout"), Type.Literal("stderr")]),
	text: Type.String(),
	source: Type.Union(
		[Type.Literal("assistant"), Type.Literal("reasoning"), Type.Literal("tool"), Type.Literal("sidecar")],
		{
			description: "Addition: who produced the text",
		},
	),
	tool: Type.Optional(Type.String({ description: "Addition: the tool, when source is tool" })),
	call_id: Type.Optional(
		Type.String({
			description: "Addition: the tool call, when source is tool",
		}),
	),
	timestamp: Timestamp,
});

export const ToolCallData = Type.Object({
	tool: Type.String(),
	args: Type.Record(Type.String(), Type.Unknown()),
	call_id: Type.String({
		description: "Addition: pairs a tool_call with its tool_result",
	}),
	timestamp: Timestamp,
});

export const ToolResultData = Type.Object({
	tool: Type.String(),
	result: Type.Object(
		{
			output: Type.Optional(Type.String()),
			title: Type.Optional(Type.String()),
			error: Type.Optional(Type.String()),
			metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
		},
		{ additionalProperties: true },
	),
	call_id: Type.String({ description: "Addition" }),
	is_error: Type.Boolean({ description: "Addition: the tool failed" }),
	timestamp: Timestamp,
});

export const StatusData = Type.Object({
	status: SessionStatusName,
	progress: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
	message: Type.Optional(Type.String({ description: "Addition: why the status changed" })),
	timestamp: Timestamp,
});

export const ErrorData = Type.Object({
	error: Type.String({ description: "Human-readable message" }),
	fatal: Type.Boolean({
		description: "true: the run is over (this is its terminal event)",
	}),
	retry_after: Type.Optional(
		Type.Integer({
			minimum: 0,
			description: "Seconds until the engine retries",
		}),
	),
	code: ErrorCode,
	timestamp: Timestamp,
});

export const CompleteData = Type.Object({
	final_message: Type.String({
		description: "The last assistant message's text",
	}),
	files_modified: Type.Array(Type.String(), {
		description: "Workspace-relative paths the session changed",
	}),
	usage: Type.Optional(Usage),
	timestamp: Timestamp,
});

export const QuestionData = Type.Object({
	question_id: Type.String({
		description: "Answer with POST /sessions/{id}/questions/{question_id}",
	}),
	questions: Type.Array(
		Type.Object({
			question: Type.String(),
			header: Type.Optional(Type.String()),
			options: Type.Array(
				Type.Object({
					label: Type.String(),
					description: Type.Optional(Type.String()),
				}),
			),
			multiple: Type.Boolean({
				description: "More than one option may be chosen",
			}),
		}),
	),
	default: Type.Array(Type.Array(Type.String()), {
		description: "What is answered if nobody answers in time: per question, the recommended or first option",
	}),
	expires_at: Timestamp,
	timestamp: Timestamp,
});

export const PermissionData = Type.Object({
	permission_id: Type.String(),
	permission: Type.String({
		description: "What the agent asked for, e.g. external_directory, doom_loop, read",
	}),
	patterns: Type.Array(Type.String()),
	decision: Type.Union([Type.Literal("allow"), Type.Literal("reject")]),
	reason: Type.String(),
	timestamp: Timestamp,
});

export const HeartbeatData = Type.Object({}, { additionalProperties: false });

export const EVENT_CATALOGUE = {
	output: {
		schema: OutputData,
		description: "Assistant text, reasoning and live tool output, as it is produced",
	},
	tool_call: {
		schema: ToolCallData,
		description: "The agent invoked a tool (input known)",
	},
	tool_result: {
		schema: ToolResultData,
		description: "A tool finished or failed",
	},
	status: { schema: StatusData, description: "The session's status changed" },
	error: {
		schema: ErrorData,
		description: "Something went wrong; fatal errors end the run",
	},
	complete: {
		schema: CompleteData,
		description: "The run finished successfully (terminal)",
	},
	question: {
		schema: QuestionData,
		description: "The agent asks the user; the run waits for an answer or the timeout",
	},
	permission: {
		schema: PermissionData,
		description: "A permission request of the agent and how the policy answered it",
	},
	heartbeat: {
		schema: HeartbeatData,
		description: "Keep-alive; no id, never stored or replayed",
	},
} as const satisfies Record<string, { schema: TSchema; description: string }>;

export type EventName = keyof typeof EVENT_CATALOGUE;
export type EventData<E extends EventName> = Static<(typeof EVENT_CATALOGUE)[E]["schema"]>;

/** A contract event before it is numbered and stored. */
export type ContractEvent = {
	[E in EventName]: { readonly event: E; readonly data: EventData<E> };
}[EventName];
/** Events that end up in a session's log (heartbeats never do). */
export type LoggedEvent = Exclude<ContractEvent, { event: "heartbeat" }>;

/** A stored event: numbered from 1 per session, never renumbered. */
export type StoredEvent = LoggedEvent & { readonly id: number };

export const isTerminal = (e: LoggedEvent): boolean => e.event === "complete" || (e.event === "error" && e.data.fatal);
