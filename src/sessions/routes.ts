import { Elysia, t } from "elysia";
import { TooManySubscribers, ValidationFailed } from "../http/errors";
import type { StreamHub } from "../sse/hub";
import type { SessionManager } from "./manager";
import {
	AnswerAccepted,
	AnswerBody,
	CancelResponse,
	ConflictEnvelope,
	Conversation,
	CreateSessionBody,
	ErrorEnvelope,
	FollowUpAccepted,
	FollowUpBody,
	ListQuery,
	QuestionParams,
	SessionDiff,
	SessionList,
	SessionParams,
	SessionStatus,
	StreamQuery,
} from "./schemas";

const SSE_HEADERS = {
	"Content-Type": "text/event-stream; charset=utf-8",
	"Cache-Control": "no-cache, no-transform",
	// The connection ends with the stream (its idle timeout was lifted for the stream):
	// EventSource opens a new one to reconnect anyway.
	Connection: "close",
	"X-Accel-Buffering": "no",
};

/** `Last-Event-ID` (header, or query for a browser's first connection) → the id to replay after. */
export function parseLastEventId(header: string | null | undefined, query: string | undefined): number {
	const raw = header ?? query;
	if (raw === undefined || raw === null || raw === "") return 0;
	if (!/^\d{1,15}$/.test(raw.trim()))
		throw new ValidationFailed("Last-Event-ID", "must be a non-negative integer event id");
	return Number(raw.trim());
}

function rejectArrayLikes(body: unknown): void {
	const mc = typeof body === "object" && body !== null ? (body as { model_config?: unknown }).model_config : undefined;
	const tools = typeof mc === "object" && mc !== null ? (mc as { enabled_tools?: unknown }).enabled_tools : undefined;
	if (tools !== undefined && !Array.isArray(tools))
		throw new ValidationFailed("model_config.enabled_tools", "must be an array");
}

/** Thin routes: parse, call the session service, map the result. */
export function sessionRoutes(sessions: SessionManager, streams: StreamHub, maxSubscribersPerSession: number) {
	const tags = ["sessions"];
	return new Elysia({ name: "sessions", prefix: "/sessions" })
		.get(
			"/",
			({ query }) => ({
				sessions: sessions
					.list()
					.filter((s) => !query.status || s.record.status === query.status)
					.map((s) => s.status()),
			}),
			{
				query: ListQuery,
				response: { 200: SessionList, 400: ErrorEnvelope, 401: ErrorEnvelope },
				detail: {
					tags,
					operationId: "listSessions",
					summary: "Every session, newest first (filter with ?status=)",
				},
			},
		)
		.post(
			"/:id/messages",
			({ params, body, set }) => {
				const { status, queued } = sessions.followUp(params.id, body.prompt, body.api_key);
				set.status = 202;
				return { session_id: status.session_id, status: status.status, queued };
			},
			{
				params: SessionParams,
				body: FollowUpBody,
				response: {
					202: FollowUpAccepted,
					400: ErrorEnvelope,
					401: ErrorEnvelope,
					404: ErrorEnvelope,
					409: ErrorEnvelope,
					503: ErrorEnvelope,
				},
				detail: {
					tags,
					operationId: "sendMessage",
					summary: "Follow-up message: queued behind the current run, or starts a new run after a completed one",
				},
			},
		)
		.post(
			"/:id/questions/:question_id",
			({ params, body }) => sessions.answerQuestion(params.id, params.question_id, body.answers),
			{
				params: QuestionParams,
				body: AnswerBody,
				response: {
					200: AnswerAccepted,
					400: ErrorEnvelope,
					401: ErrorEnvelope,
					404: ErrorEnvelope,
				},
				detail: {
					tags,
					operationId: "answerQuestion",
					summary: "Answer a question the agent asked (see the question event)",
				},
			},
		)
		.get(
			"/:id/diff",
			async ({ params }) => ({
				session_id: params.id,
				files: await sessions.diff(params.id),
			}),
			{
				params: SessionParams,
				response: {
					200: SessionDiff,
					400: ErrorEnvelope,
					401: ErrorEnvelope,
					404: ErrorEnvelope,
					503: ErrorEnvelope,
				},
				detail: {
					tags,
					operationId: "getSessionDiff",
					summary: "What the session changed in the workspace, per file",
				},
			},
		)
		.get(
			"/:id/messages",
			async ({ params }) => ({
				session_id: params.id,
				messages: await sessions.messages(params.id),
			}),
			{
				params: SessionParams,
				response: {
					200: Conversation,
					400: ErrorEnvelope,
					401: ErrorEnvelope,
					404: ErrorEnvelope,
					503: ErrorEnvelope,
				},
				detail: {
					tags,
					operationId: "getSessionMessages",
					summary: "The conversation so far (roles, text, tool calls)",
				},
			},
		)
		.post(
			"/",
			({ body, set }) => {
				const status = sessions.create(body);
				set.status = 201;
				return status;
			},
			{
				body: CreateSessionBody,
				// Elysia's validator accepts array-like objects ({"0": "read", "length": 1}) for arrays; the contract does not.
				transform: ({ body }) => rejectArrayLikes(body),
				response: {
					201: SessionStatus,
					400: ErrorEnvelope,
					401: ErrorEnvelope,
					409: ConflictEnvelope,
					413: ErrorEnvelope,
					503: ErrorEnvelope,
				},
				detail: {
					tags,
					operationId: "createSession",
					summary: "Create a session and start its run",
				},
			},
		)
		.get("/:id/status", ({ params }) => sessions.status(params.id), {
			params: SessionParams,
			response: {
				200: SessionStatus,
				400: ErrorEnvelope,
				401: ErrorEnvelope,
				404: ErrorEnvelope,
			},
			detail: {
				tags,
				operationId: "getSessionStatus",
				summary: "Current status of a session",
			},
		})
		.delete("/:id", ({ params }) => sessions.cancel(params.id), {
			params: SessionParams,
			response: {
				200: CancelResponse,
				400: ErrorEnvelope,
				401: ErrorEnvelope,
				404: ErrorEnvelope,
			},
			detail: {
				tags,
				operationId: "cancelSession",
				summary: "Cancel a session's run (idempotent: an ended session returns its final state)",
			},
		})
		.get(
			"/:id/stream",
			({ params, query, headers, request, server }) => {
				const session = sessions.get(params.id);
				const afterId = parseLastEventId(headers["last-event-id"], query.last_event_id);
				const channel = session.channel;
				if (afterId > channel.lastId) {
					throw new ValidationFailed("Last-Event-ID", "is beyond the newest event of this session");
				}
				if (channel.subscriberCount >= maxSubscribersPerSession) throw new TooManySubscribers(maxSubscribersPerSession);
				// Nothing left to send: 204 tells EventSource to stop reconnecting.
				if (channel.atRest && afterId >= channel.lastId) return new Response(null, { status: 204 });
				// A quiet stream must outlive Bun's idle timeout; heartbeats keep proxies awake.
				server?.timeout(request, 0);
				return new Response(streams.stream(channel, afterId), {
					headers: SSE_HEADERS,
				});
			},
			{
				params: SessionParams,
				query: StreamQuery,
				headers: t.Object({
					"last-event-id": t.Optional(t.String({ maxLength: 32 })),
				}),
				detail: {
					tags,
					operationId: "streamSession",
					summary: "Server-Sent Events: replay after Last-Event-ID, then live, until the terminal event",
					responses: {
						200: {
							description: "text/event-stream (see API_CONTRACT.md for the event catalogue)",
						},
						204: {
							description: "The session has ended and nothing is left to send",
						},
						400: { description: "Malformed Last-Event-ID or session id" },
						404: { description: "Unknown session" },
					},
				},
			},
		);
}
