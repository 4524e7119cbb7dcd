import { anthropic } from "./formats/anthropic";
import type { WireFormat } from "./formats/format";
import { openAiChat } from "./formats/openai-chat";
import { openAiResponses } from "./formats/openai-responses";
import { IdSource } from "./ids";
import { planTurn } from "./plan";
import { RequestRecorder } from "./recorder";
import { ScriptBook } from "./script";
import { sseResponse } from "./sse-response";
import type { RecordedRequest, ScriptedLlm, Turn } from "./types";

/** Matched on the path's end, so any base path works (the engine appends these to `baseURL`). */
const ROUTES: [suffix: string, format: WireFormat][] = [
	["/chat/completions", openAiChat],
	["/responses", openAiResponses],
	["/messages", anthropic],
];

/**
 * A local stand-in for the OpenAI (Chat Completions, Responses) and Anthropic (Messages) APIs
 * that replays scripted turns per API key. Listens on 127.0.0.1; `port` defaults to 0 (random).
 */
export async function startScriptedLlm(opts: { port?: number } = {}): Promise<ScriptedLlm> {
	const book = new ScriptBook();
	const recorder = new RequestRecorder();
	const ids = new IdSource();

	const server = Bun.serve({
		hostname: "127.0.0.1",
		port: opts.port ?? 0,
		// Streams that pause (delayMs) or hang must not be cut by Bun's default 10 s idle timeout.
		idleTimeout: 0,
		async fetch(request) {
			const path = new URL(request.url).pathname;
			if (request.method === "GET" && path.endsWith("/models")) return Response.json(MODELS);
			const route = ROUTES.find(([suffix]) => path.endsWith(suffix));
			if (request.method !== "POST" || !route)
				return Response.json({ error: { message: `no route ${request.method} ${path}` } }, { status: 404 });
			const format = route[1];
			const recorded = await recordRequest(request, format, path);
			recorder.record(recorded);
			return reply(format, book.next(recorded.key), recorded.body, ids);
		},
	});

	return {
		url: `http://127.0.0.1:${server.port}/v1`,
		script: (key, turns) => book.add(key, turns),
		requests: recorder.requests,
		waitForRequest: (pred, timeoutMs) => recorder.waitFor(pred, timeoutMs),
		async close() {
			recorder.close();
			await server.stop(true);
		},
	};
}

async function recordRequest(request: Request, format: WireFormat, path: string): Promise<RecordedRequest> {
	const text = await request.text();
	let body: unknown = text;
	try {
		body = JSON.parse(text);
	} catch {
		// Kept as text: a malformed body is itself worth seeing in a test.
	}
	const headers = Object.fromEntries(request.headers);
	return {
		at: Date.now(),
		format: format.name,
		path,
		headers,
		body,
		key: apiKey(headers),
	};
}

function apiKey(headers: Record<string, string>): string | undefined {
	const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? "");
	return bearer?.[1] ?? headers["x-api-key"];
}

function reply(format: WireFormat, turn: Turn | undefined, body: RecordedRequest["body"], ids: IdSource): Response {
	const headers = format.headers(ids);
	if (turn === undefined) return errorReply(format, { kind: "error", status: 401 }, headers);
	if (turn.kind === "error") return errorReply(format, turn, headers);
	const streaming = body?.stream === true;
	if (turn.kind === "hang") return sseResponse([], { delayMs: 0, end: "hang", headers });
	if (turn.kind === "raw")
		return new Response(turn.body, { headers: { ...headers, "content-type": "text/event-stream" } });
	const plan = planTurn(turn, {
		model: typeof body?.model === "string" ? body.model : "scripted",
		requestBody: body,
		newCallId: () => ids.next(format.callIdPrefix),
	});
	if (streaming)
		return sseResponse(format.stream(plan, ids), {
			delayMs: plan.delayMs,
			end: plan.truncated ? "reset" : "close",
			headers,
			...(turn.kind !== "truncate" && turn.hold ? { hold: turn.hold } : {}),
		});
	const json = JSON.stringify(format.complete(plan, ids));
	if (!plan.truncated)
		return new Response(json, {
			headers: { "content-type": "application/json", ...headers },
		});
	return sseResponse([{ text: json.slice(0, json.length >> 1) }], {
		delayMs: 0,
		end: "reset",
		headers: { ...headers, "content-type": "application/json" },
	});
}

function errorReply(
	format: WireFormat,
	turn: Extract<Turn, { kind: "error" }>,
	headers: Record<string, string>,
): Response {
	return Response.json(format.error(turn.status, turn.message), {
		status: turn.status,
		headers: { ...headers, ...turn.headers },
	});
}

/** Enough for both OpenAI and Anthropic model listings. */
const MODELS = {
	object: "list",
	data: [
		{
			id: "sidecar",
			object: "model",
			type: "model",
			display_name: "sidecar",
			created: 0,
			created_at: "1970-01-01T00:00:00Z",
			owned_by: "scripted-llm",
		},
	],
	has_more: false,
	first_id: "sidecar",
	last_id: "sidecar",
};
