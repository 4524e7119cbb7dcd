import { Elysia } from "elysia";
import { eventStreamMediaType } from "../events/openapi";
import { TooManySubscribers, ValidationFailed } from "../http/errors";
import { jsonBody } from "../http/plugin";
import { documentedErrors, errorResponses } from "../http/responses";
import type { StreamHub } from "../sse/hub";
import type { TraceHeaders } from "../telemetry/port";
import type { SessionManager } from "./manager";
import {
	AnswerAccepted,
	AnswerBody,
	CancelResponse,
	ConflictEnvelope,
	Conversation,
	CreateSessionBody,
	FollowUpAccepted,
	FollowUpBody,
	LAST_EVENT_ID_MAX,
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
			"",
			({ query }) => ({
				sessions: sessions
					.list()
					.filter((s) => !query.status || s.record.status === query.status)
					.map((s) => s.status()),
			}),
			{
				query: ListQuery,
				response: { 200: SessionList, ...errorResponses() },
				detail: {
					tags,
					operationId: "listSessions",
					summary: "Every session, newest first (filter with ?status=)",
					description: "The status object of every stored session, newest first; `?status=` keeps one status.",
				},
			},
		)
		.post(
			"/:id/messages",
			async ({ params, body, set, headers }) => {
				sessions.get(params.id); // 404 before asking the engine about the agent
				const agent = body.agent === undefined ? undefined : await sessions.agents.choose(body.agent);
				const { status, queued } = await sessions.followUp(
					params.id,
					body.prompt,
					body.api_key,
					agent,
					traceHeaders(headers),
				);
				set.status = 202;
				return { session_id: status.session_id, status: status.status, queued };
			},
			{
				params: SessionParams,
				...jsonBody(FollowUpBody),
				response: { 202: FollowUpAccepted, ...errorResponses(404, 409, 415, 503) },
				detail: {
					tags,
					operationId: "sendMessage",
					summary: "Follow-up message: queued behind the current run, or starts a new run after a completed one",
					description:
						"During a run the message waits for it (`queued` > 0); after a completed run it starts a new run with the whole conversation as context. `agent` switches the agent from this run on.",
				},
			},
		)
		.post(
			"/:id/questions/:question_id",
			({ params, body }) => sessions.answerQuestion(params.id, params.question_id, body.answers),
			{
				params: QuestionParams,
				...jsonBody(AnswerBody),
				response: { 200: AnswerAccepted, ...errorResponses(404, 415) },
				detail: {
					tags,
					operationId: "answerQuestion",
					summary: "Answer a question the agent asked (see the question event)",
					description:
						"Per question, the chosen option labels (or free text). Unanswered questions get their default at QUESTION_TIMEOUT.",
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
				response: { 200: SessionDiff, ...errorResponses(404, 503) },
				detail: {
					tags,
					operationId: "getSessionDiff",
					summary: "What the session changed in the workspace, per file",
					description:
						"Every file the session's runs created, changed or deleted under WORKSPACE_DIR, with a unified diff (see API_CONTRACT.md for what is tracked).",
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
				response: { 200: Conversation, ...errorResponses(404, 503) },
				detail: {
					tags,
					operationId: "getSessionMessages",
					summary: "The conversation so far (roles, text, tool calls)",
					description: "Every message of the session as the engine stores it: role, text and tool calls.",
				},
			},
		)
		.post(
			"",
			async ({ body, set, headers }) => {
				const agent = body.agent === undefined ? undefined : await sessions.agents.choose(body.agent);
				const status = sessions.create(body, agent, traceHeaders(headers));
				set.status = 201;
				return status;
			},
			{
				...jsonBody(CreateSessionBody),
				// Elysia's validator accepts array-like objects ({"0": "read", "length": 1}) for arrays; the contract does not.
				transform: ({ body }) => rejectArrayLikes(body),
				response: { 201: SessionStatus, ...errorResponses(415, 503), 409: ConflictEnvelope },
				detail: {
					tags,
					operationId: "createSession",
					summary: "Create a session and start its run",
					description:
						"Stores the session and starts its run; answers before the engine has the prompt. 409 carries the existing session.",
				},
			},
		)
		.get("/:id/status", ({ params }) => sessions.status(params.id), {
			params: SessionParams,
			response: { 200: SessionStatus, ...errorResponses(404) },
			detail: {
				tags,
				operationId: "getSessionStatus",
				summary: "Current status of a session",
				description: "The status object: status, progress, files_modified, usage, error, agent.",
			},
		})
		.delete("/:id", ({ params }) => sessions.cancel(params.id), {
			params: SessionParams,
			response: { 200: CancelResponse, ...errorResponses(404, 415) },
			detail: {
				tags,
				operationId: "cancelSession",
				summary: "Cancel a session's run (idempotent: an ended session returns its final state)",
				description: "Ends the run at once (`cancelled`) and aborts it in the engine.",
			},
		})
		.get(
			"/:id/stream",
			({ params, query, headers, request, server }) => {
				const header = headers["last-event-id"];
				// Checked here, not by a `headers` schema: the document lists no header parameter (see the description).
				if (header !== undefined && header.length > LAST_EVENT_ID_MAX)
					throw new ValidationFailed("last-event-id", `must be string length less or equal to ${LAST_EVENT_ID_MAX}`);
				const session = sessions.get(params.id);
				const afterId = parseLastEventId(header, query.last_event_id);
				const channel = session.channel;
				if (afterId > channel.lastId) {
					throw new ValidationFailed("Last-Event-ID", "is beyond the newest event of this session");
				}
				if (channel.subscriberCount >= maxSubscribersPerSession) throw new TooManySubscribers(maxSubscribersPerSession);
				// Nothing left to send: 204 tells EventSource to stop reconnecting.
				if (channel.atRest && afterId >= channel.lastId) return new Response(null, { status: 204 });
				// A quiet stream must outlive Bun's idle timeout; heartbeats keep proxies awake.
				server?.timeout(request, 0);
				return new Response(streams.stream(channel, afterId, session.id), {
					headers: SSE_HEADERS,
				});
			},
			{
				params: SessionParams,
				query: StreamQuery,
				detail: {
					tags,
					operationId: "streamSession",
					summary: "Server-Sent Events: replay after Last-Event-ID, then live, until the terminal event",
					description:
						"Every stored event after Last-Event-ID, then live events and heartbeats until the terminal `complete` or fatal `error`. The position comes in the `Last-Event-ID` request header (at most 32 characters; EventSource and SSE clients send it themselves when they reconnect, so it is not listed as a parameter: a generated client would otherwise have two `lastEventId`s), or the `last_event_id` query parameter (a browser's first connection); the header wins when both are sent.",
					responses: {
						200: {
							description:
								"The session's events; each event's `data` is the JSON payload of the type its `event` field names",
							content: { "text/event-stream": eventStreamMediaType() },
						},
						204: { description: "The session has ended and nothing is left to send" },
						...documentedErrors(404, 503),
					},
				},
			},
		);
}

/** The W3C trace context a request carries (`traceparent`, `tracestate`): the run's span continues the caller's trace. */
function traceHeaders(headers: Record<string, string | undefined>): TraceHeaders {
	return { traceparent: headers.traceparent, tracestate: headers.tracestate };
}
