import { type Static, Type } from "@sinclair/typebox";
import { ErrorCode, SessionStatusName, Usage } from "../events/catalogue";
import { ErrorEnvelope } from "../http/responses";
import { ModelConfig } from "../providers/model-config";

const UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const Timestamp = Type.String({ format: "date-time" });
const Nullable = <T extends ReturnType<typeof Type.String>>(s: T) => Type.Union([s, Type.Null()]);

export const AgentName = Type.String({
	pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
	description:
		"Addition: the engine agent of the run (e.g. build, plan, or one in the workspace's .opencode/agent/); default build",
});

export const SessionId = Type.String({
	pattern: UUID,
	description: "A UUID chosen by the backend",
});

export const SessionParams = Type.Object({ id: SessionId });

export const CreateSessionBody = Type.Object(
	{
		session_id: SessionId,
		prompt: Type.String({ minLength: 1, maxLength: 262_144 }),
		model_config: ModelConfig,
		system_prompt: Type.Optional(Type.String({ maxLength: 65_536 })),
		agent: Type.Optional(AgentName),
	},
	{
		additionalProperties: true,
		description: "Unknown fields are ignored, for forward compatibility",
	},
);
export type CreateSessionBody = Static<typeof CreateSessionBody>;

export const SessionError = Type.Object({
	code: ErrorCode,
	message: Type.String(),
});

export const SessionStatus = Type.Object({
	session_id: Type.String(),
	status: SessionStatusName,
	created_at: Timestamp,
	started_at: Nullable(Timestamp),
	updated_at: Timestamp,
	ended_at: Nullable(Timestamp),
	last_event_id: Type.Integer({
		minimum: 0,
		description: "Id of the newest stored event (0: none yet)",
	}),
	progress: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
	error: Type.Optional(SessionError),
	files_modified: Type.Optional(Type.Array(Type.String())),
	usage: Type.Optional(Usage),
	provider: Type.String({ description: "Addition" }),
	model: Type.String({ description: "Addition" }),
	agent: Type.Optional(Type.String({ description: "Addition: the agent named by the request (absent: the default)" })),
	trace_id: Type.Optional(
		Type.String({
			pattern: "^[0-9a-f]{32}$",
			description: "Addition: the OpenTelemetry trace id of the newest run (only when tracing is on)",
		}),
	),
});
export type SessionStatus = Static<typeof SessionStatus>;

export const CancelResponse = Type.Object({
	session_id: Type.String(),
	status: SessionStatusName,
	cancelled_at: Nullable(Timestamp),
	ended_at: Nullable(Timestamp),
});
export type CancelResponse = Static<typeof CancelResponse>;

/** 409 body: the envelope plus the existing session, so a retrying backend can treat it as accepted. */
export const ConflictEnvelope = Type.Composite([ErrorEnvelope, Type.Object({ session: SessionStatus })], {
	description: "The session exists: the envelope with the existing session",
});

/** The longest Last-Event-ID accepted, in the query or the `Last-Event-ID` header. */
export const LAST_EVENT_ID_MAX = 32;
export const StreamQuery = Type.Object({
	last_event_id: Type.Optional(
		Type.String({
			maxLength: LAST_EVENT_ID_MAX,
			description:
				"Resume after this event id (a browser's first connection; reconnections send the Last-Event-ID header)",
		}),
	),
});

export const SessionList = Type.Object({ sessions: Type.Array(SessionStatus) });

export const ListQuery = Type.Object({
	status: Type.Optional(SessionStatusName),
});

export const FollowUpBody = Type.Object(
	{
		prompt: Type.String({ minLength: 1, maxLength: 262_144 }),
		api_key: Type.Optional(
			Type.String({
				minLength: 1,
				maxLength: 4096,
				description:
					"Addition: re-supplies the session's key (needed after a sidecar restart, which forgets keys); never stored",
			}),
		),
		agent: Type.Optional(AgentName),
	},
	{ additionalProperties: true },
);
export type FollowUpBody = Static<typeof FollowUpBody>;

export const FollowUpAccepted = Type.Object({
	session_id: Type.String(),
	status: SessionStatusName,
	queued: Type.Integer({
		minimum: 0,
		description: "Messages waiting for the current run (0: this one started a run now)",
	}),
});

export const QuestionParams = Type.Object({
	id: SessionId,
	question_id: Type.String({ pattern: "^[A-Za-z0-9_-]{1,100}$" }),
});

export const AnswerBody = Type.Object(
	{
		answers: Type.Array(
			Type.Array(Type.String({ minLength: 1, maxLength: 10_000 }), {
				maxItems: 50,
			}),
			{
				maxItems: 50,
				description: "Per question, the chosen option labels (or free text)",
			},
		),
	},
	{ additionalProperties: true },
);
export type AnswerBody = Static<typeof AnswerBody>;

export const AnswerAccepted = Type.Object({
	question_id: Type.String(),
	answers: Type.Array(Type.Array(Type.String())),
});

export const SessionDiff = Type.Object({
	session_id: Type.String(),
	files: Type.Array(
		Type.Object({
			path: Type.String({ description: "Workspace-relative" }),
			status: Type.Union([Type.Literal("added"), Type.Literal("modified"), Type.Literal("deleted")]),
			additions: Type.Integer({ minimum: 0 }),
			deletions: Type.Integer({ minimum: 0 }),
			diff: Type.String({ description: "Unified diff" }),
		}),
	),
});

export const Conversation = Type.Object({
	session_id: Type.String(),
	messages: Type.Array(
		Type.Object({
			id: Type.String(),
			role: Type.String(),
			created_at: Nullable(Timestamp),
			text: Type.String(),
			tool_calls: Type.Array(
				Type.Object({
					call_id: Type.String(),
					tool: Type.String(),
					args: Type.Record(Type.String(), Type.Unknown()),
					status: Type.String(),
					output: Type.Optional(Type.String()),
					error: Type.Optional(Type.String()),
				}),
			),
		}),
	),
});
