// biome-ignore-all lint/suspicious/noExplicitAny: the streams under test are arbitrary JSON, read field by field.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type ScriptedLlm, startScriptedLlm } from "../support/scripted-llm/index";
import { asOffered } from "../support/scripted-llm/offered";
import { splitText } from "../support/scripted-llm/plan";

interface SseEvent {
	event?: string;
	data: string;
}

/** Strict enough to catch malformed output: every frame ends with a blank line and has only `event`/`data` fields. */
function parseSse(text: string): SseEvent[] {
	expect(text.endsWith("\n\n")).toBe(true);
	return text
		.slice(0, -2)
		.split("\n\n")
		.map((frame) => {
			const event: SseEvent = { data: "" };
			for (const line of frame.split("\n")) {
				const match = /^(event|data): (.*)$/.exec(line);
				if (!match) throw new Error(`malformed SSE line: ${JSON.stringify(line)}`);
				if (match[1] === "event") event.event = match[2];
				else event.data = match[2] as string;
			}
			return event;
		});
}

/** Parses JSON data and checks that `event:` (when present) names the payload's `type`. */
function payloads(events: SseEvent[]): any[] {
	return events.map((e) => {
		const data = JSON.parse(e.data);
		if (e.event !== undefined) expect(data.type).toBe(e.event);
		return data;
	});
}

let llm: ScriptedLlm;
let keySerial = 0;

beforeAll(async () => {
	llm = await startScriptedLlm();
});
afterAll(async () => {
	await llm.close();
});

function freshKey(): string {
	keySerial += 1;
	return `key-${keySerial}`;
}

const chatBody = {
	model: "sidecar",
	stream: true,
	messages: [{ role: "user", content: "hi" }],
};
const responsesBody = {
	model: "sidecar",
	stream: true,
	input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }],
};
const anthropicBody = {
	model: "sidecar",
	stream: true,
	max_tokens: 1024,
	messages: [{ role: "user", content: "hi" }],
};

function post(path: string, key: string, body: unknown, header: "bearer" | "x-api-key" = "bearer"): Promise<Response> {
	const auth: Record<string, string> = header === "bearer" ? { authorization: `Bearer ${key}` } : { "x-api-key": key };
	return fetch(`${llm.url}${path}`, {
		method: "POST",
		headers: { "content-type": "application/json", ...auth },
		body: JSON.stringify(body),
	});
}

async function stream(
	path: string,
	key: string,
	body: unknown,
	header: "bearer" | "x-api-key" = "bearer",
): Promise<any[]> {
	const response = await post(path, key, body, header);
	expect(response.status).toBe(200);
	expect(response.headers.get("content-type")).toStartWith("text/event-stream");
	const events = parseSse(await response.text());
	return payloads(events.at(-1)?.data === "[DONE]" ? events.slice(0, -1) : events);
}

describe("splitText", () => {
	it("splits into words keeping the spaces", () => {
		expect(splitText("Hello big  world")).toEqual(["Hello ", "big  ", "world"]);
	});
	it("splits into the requested number of pieces", () => {
		expect(splitText("abcdefgh", 3)).toEqual(["ab", "cde", "fgh"]);
		expect(splitText("ab", 5)).toEqual(["a", "b"]);
	});
});

describe("OpenAI chat completions", () => {
	it("streams text as chunk deltas, then finish_reason, usage and [DONE]", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "text", text: "Hello there, friend.", chunks: 4 }]);
		const response = await post("/chat/completions", key, chatBody);
		const events = parseSse(await response.text());
		expect(events.at(-1)).toEqual({ data: "[DONE]" });
		const chunks = payloads(events.slice(0, -1));
		for (const c of chunks) {
			expect(c.object).toBe("chat.completion.chunk");
			expect(c.model).toBe("sidecar");
		}
		expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
		const deltas = chunks.flatMap((c) => c.choices.map((choice: any) => choice.delta.content ?? ""));
		expect(deltas.filter((d) => d !== "")).toHaveLength(4);
		expect(deltas.join("")).toBe("Hello there, friend.");
		expect(chunks.at(-2).choices[0].finish_reason).toBe("stop");
		const usage = chunks.at(-1);
		expect(usage.choices).toEqual([]);
		expect(usage.usage.prompt_tokens).toBeGreaterThan(0);
		expect(usage.usage.completion_tokens).toBeGreaterThan(0);
		expect(usage.usage.total_tokens).toBe(usage.usage.prompt_tokens + usage.usage.completion_tokens);
	});

	it("streams tool calls with unique ids, names and argument pieces", async () => {
		const key = freshKey();
		const args = {
			command: "echo hi; echo oops 1>&2",
			description: "Print two lines",
		};
		llm.script(key, [
			{
				kind: "tool",
				text: "Running it.",
				calls: [
					{ name: "bash", args },
					{ name: "read", args: { filePath: "/tmp/x" } },
				],
			},
		]);
		const chunks = payloads(parseSse(await (await post("/chat/completions", key, chatBody)).text()).slice(0, -1));
		const calls = new Map<number, { id?: string; name?: string; arguments: string }>();
		for (const c of chunks) {
			for (const delta of c.choices[0]?.delta.tool_calls ?? []) {
				const call = calls.get(delta.index) ?? { arguments: "" };
				if (delta.id) {
					expect(call.id).toBeUndefined();
					call.id = delta.id;
					expect(delta.type).toBe("function");
					call.name = delta.function.name;
				}
				call.arguments += delta.function.arguments ?? "";
				calls.set(delta.index, call);
			}
		}
		expect([...calls.keys()]).toEqual([0, 1]);
		expect(calls.get(0)?.name).toBe("bash");
		expect(JSON.parse(calls.get(0)?.arguments ?? "")).toEqual(args);
		expect(JSON.parse(calls.get(1)?.arguments ?? "")).toEqual({
			filePath: "/tmp/x",
		});
		expect(calls.get(0)?.id).not.toBe(calls.get(1)?.id);
		expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe("tool_calls");
	});

	it("answers a non-streaming request with a chat.completion", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "text", text: "Plain." }]);
		const body = (await (await post("/chat/completions", key, { ...chatBody, stream: false })).json()) as any;
		expect(body.object).toBe("chat.completion");
		expect(body.choices[0].message.content).toBe("Plain.");
		expect(body.usage.total_tokens).toBeGreaterThan(0);
	});
});

describe("OpenAI Responses API", () => {
	it("streams text from response.created to response.completed with usage", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "text", text: "One two three" }]);
		const events = await stream("/responses", key, responsesBody);
		expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
		expect(events.map((e) => e.type)).toEqual([
			"response.created",
			"response.in_progress",
			"response.output_item.added",
			"response.content_part.added",
			"response.output_text.delta",
			"response.output_text.delta",
			"response.output_text.delta",
			"response.output_text.done",
			"response.content_part.done",
			"response.output_item.done",
			"response.completed",
		]);
		const itemId = events[2].item.id;
		expect(events.filter((e) => e.type === "response.output_text.delta").every((e) => e.item_id === itemId)).toBe(true);
		expect(
			events
				.filter((e) => e.type === "response.output_text.delta")
				.map((e) => e.delta)
				.join(""),
		).toBe("One two three");
		const completed = events.at(-1).response;
		expect(completed.id).toBe(events[0].response.id);
		expect(completed.status).toBe("completed");
		expect(completed.output[0].content[0].text).toBe("One two three");
		expect(completed.usage.input_tokens).toBeGreaterThan(0);
		expect(completed.usage.output_tokens).toBeGreaterThan(0);
	});

	it("streams function calls as output items with argument deltas", async () => {
		const key = freshKey();
		const args = { filePath: "notes/hello.txt", content: "Hello, notes!\n" };
		llm.script(key, [
			{
				kind: "tool",
				text: "Writing.",
				calls: [
					{ name: "write", args },
					{ name: "write", args },
				],
			},
		]);
		const events = await stream("/responses", key, responsesBody);
		const added = events.filter((e) => e.type === "response.output_item.added" && e.item.type === "function_call");
		expect(added).toHaveLength(2);
		expect(added[0].item.call_id).not.toBe(added[1].item.call_id);
		for (const { item, output_index } of added) {
			expect(item.name).toBe("write");
			const deltas = events.filter((e) => e.type === "response.function_call_arguments.delta" && e.item_id === item.id);
			expect(deltas.every((e) => e.output_index === output_index)).toBe(true);
			expect(JSON.parse(deltas.map((e) => e.delta).join(""))).toEqual(args);
			const done = events.find((e) => e.type === "response.output_item.done" && e.item.id === item.id);
			expect(done.item).toMatchObject({
				type: "function_call",
				status: "completed",
				call_id: item.call_id,
				name: "write",
			});
			expect(JSON.parse(done.item.arguments)).toEqual(args);
		}
		expect(events.at(-1).type).toBe("response.completed");
	});
});

describe("Anthropic messages", () => {
	it("streams a text block, then a tool_use block, then stop_reason tool_use", async () => {
		const key = freshKey();
		const args = { filePath: "notes/hello.txt", content: "hi\n" };
		llm.script(key, [
			{
				kind: "tool",
				text: "Let me write it.",
				calls: [{ name: "write", args }],
			},
		]);
		const events = await stream("/messages", key, anthropicBody, "x-api-key");
		expect(events[0].type).toBe("message_start");
		expect(events[0].message.usage.input_tokens).toBeGreaterThan(0);
		expect(events.at(-2)).toEqual({
			type: "message_delta",
			delta: { stop_reason: "tool_use", stop_sequence: null },
			usage: { output_tokens: expect.any(Number) },
		});
		expect(events.at(-1)).toEqual({ type: "message_stop" });
		const starts = events.filter((e) => e.type === "content_block_start");
		expect(starts.map((e) => [e.index, e.content_block.type])).toEqual([
			[0, "text"],
			[1, "tool_use"],
		]);
		expect(starts[1].content_block.id).toStartWith("toolu_");
		const text = events.filter((e) => e.delta?.type === "text_delta" && e.index === 0).map((e) => e.delta.text);
		expect(text.join("")).toBe("Let me write it.");
		const json = events
			.filter((e) => e.delta?.type === "input_json_delta" && e.index === 1)
			.map((e) => e.delta.partial_json);
		expect(JSON.parse(json.join(""))).toEqual(args);
		// Each block closes before the next opens.
		const order = events.filter((e) => e.type.startsWith("content_block_")).map((e) => `${e.type}:${e.index}`);
		expect(order.indexOf("content_block_stop:0")).toBeLessThan(order.indexOf("content_block_start:1"));
		expect(order.at(-1)).toBe("content_block_stop:1");
	});

	it("ends a text turn with stop_reason end_turn", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "text", text: "Fine." }]);
		const events = await stream("/messages", key, anthropicBody, "x-api-key");
		expect(events.find((e) => e.type === "message_delta").delta.stop_reason).toBe("end_turn");
	});
});

describe("scripts and errors", () => {
	it("answers an unscripted key with 401 in each provider's error format", async () => {
		const openai = await post("/chat/completions", "nobody", chatBody);
		expect(openai.status).toBe(401);
		expect(((await openai.json()) as any).error).toMatchObject({
			type: "invalid_request_error",
			code: "invalid_api_key",
		});
		const responses = await post("/responses", "nobody", responsesBody);
		expect(responses.status).toBe(401);
		const claude = await post("/messages", "nobody", anthropicBody, "x-api-key");
		expect(claude.status).toBe(401);
		expect(await claude.json()).toEqual({
			type: "error",
			error: { type: "authentication_error", message: "invalid x-api-key" },
		});
	});

	it("replies to scripted errors with the status, message and headers given", async () => {
		const key = freshKey();
		llm.script(key, [
			{ kind: "error", status: 429, headers: { "retry-after": "1" } },
			{
				kind: "error",
				status: 429,
				message: "Slow down",
				headers: { "retry-after": "2" },
			},
		]);
		const first = await post("/responses", key, responsesBody);
		expect(first.status).toBe(429);
		expect(first.headers.get("retry-after")).toBe("1");
		expect(((await first.json()) as any).error.code).toBe("rate_limit_exceeded");
		const second = await post("/messages", key, anthropicBody, "x-api-key");
		expect(second.status).toBe(429);
		expect(await second.json()).toEqual({
			type: "error",
			error: { type: "rate_limit_error", message: "Slow down" },
		});
	});

	it("replies Done. once a key's turns are used up", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "text", text: "First." }]);
		await stream("/messages", key, anthropicBody, "x-api-key");
		const events = await stream("/messages", key, anthropicBody, "x-api-key");
		expect(
			events
				.filter((e) => e.delta?.type === "text_delta")
				.map((e) => e.delta.text)
				.join(""),
		).toBe("Done.");
	});

	it("keeps tool call ids unique across requests", async () => {
		const key = freshKey();
		const call = { name: "bash", args: { command: "true" } };
		llm.script(key, [
			{ kind: "tool", calls: [call] },
			{ kind: "tool", calls: [call] },
		]);
		const ids: string[] = [];
		for (let i = 0; i < 2; i++) {
			const events = await stream("/messages", key, anthropicBody, "x-api-key");
			ids.push(events.find((e) => e.content_block?.type === "tool_use").content_block.id);
		}
		expect(new Set(ids).size).toBe(2);
	});

	it("records every request with its format, path, headers, body and key", async () => {
		const key = freshKey();
		llm.script(key, []);
		await stream("/chat/completions", key, { ...chatBody, marker: key });
		const recorded = llm.requests.find((r) => r.body?.marker === key);
		expect(recorded).toMatchObject({
			format: "chat",
			path: "/v1/chat/completions",
			key,
			body: { model: "sidecar" },
		});
		expect(recorded?.headers.authorization).toBe(`Bearer ${key}`);
		expect(recorded?.at).toBeNumber();
	});

	it("answers GET /models", async () => {
		const response = await fetch(`${llm.url}/models`);
		expect(response.status).toBe(200);
		expect(((await response.json()) as any).data[0].id).toBe("sidecar");
	});
});

describe("hang and truncate", () => {
	it("hang sends 200 and SSE headers, then no event until the client leaves", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "hang" }, { kind: "text", text: "After." }]);
		const aborter = new AbortController();
		const response = await fetch(`${llm.url}/responses`, {
			method: "POST",
			headers: { authorization: `Bearer ${key}` },
			body: JSON.stringify(responsesBody),
			signal: aborter.signal,
		});
		expect(response.status).toBe(200);
		expect(response.headers.get("content-type")).toStartWith("text/event-stream");
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		// Bun sends headers only with body bytes: an SSE comment, which carries no event.
		const first = new TextDecoder().decode((await reader.read()).value);
		expect(first).toMatch(/^(:[^\n]*\n)+\n$/);
		const pending = reader.read();
		const nextRequest = llm.waitForRequest((r) => r.key === key && r.body?.after === true);
		aborter.abort();
		await expect(pending).rejects.toThrow();
		const events = await stream("/responses", key, {
			...responsesBody,
			after: true,
		});
		await nextRequest;
		expect(events.at(-1).type).toBe("response.completed");
	});

	it("truncate streams text, then resets the connection without a finish event", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "truncate", text: "Half a sentence" }]);
		const response = await post("/chat/completions", key, chatBody);
		expect(response.status).toBe(200);
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		let received = "";
		const failure = await (async () => {
			for (;;) {
				const { done, value } = await reader.read();
				if (done) return undefined;
				received += decoder.decode(value, { stream: true });
			}
		})().catch((error: unknown) => error);
		expect(failure).toBeInstanceOf(Error);
		// A reset discards what the client's kernel held unread (RFC 793 §3.4): on a loaded machine a tail of the
		// frames may never reach the reader (seen in CI). What did arrive is whole frames of the text, in order.
		const whole = received.slice(0, received.lastIndexOf("\n\n") + 2);
		const chunks = whole === "" ? [] : payloads(parseSse(whole));
		expect("Half a sentence".startsWith(chunks.map((c) => c.choices[0].delta.content ?? "").join(""))).toBe(true);
		expect(chunks.every((c) => c.choices[0].finish_reason === null)).toBe(true);
		expect(received).not.toContain("[DONE]");
	});
});

describe("waitForRequest", () => {
	it("resolves on an existing match at once", async () => {
		const key = freshKey();
		llm.script(key, []);
		await stream("/chat/completions", key, chatBody);
		expect((await llm.waitForRequest((r) => r.key === key)).key).toBe(key);
	});

	it("resolves when a matching request arrives later", async () => {
		const key = freshKey();
		llm.script(key, []);
		const waiting = llm.waitForRequest((r) => r.key === key && r.format === "anthropic");
		await stream("/messages", key, anthropicBody, "x-api-key");
		expect((await waiting).path).toBe("/v1/messages");
	});

	it("rejects after its timeout", async () => {
		await expect(llm.waitForRequest(() => false, 5)).rejects.toThrow(/no matching LLM request/);
	});
});

describe("pacing", () => {
	it("waits delayMs between deltas", async () => {
		const key = freshKey();
		llm.script(key, [{ kind: "text", text: "a b c", delayMs: 30 }]);
		const started = performance.now();
		const events = await stream("/messages", key, anthropicBody, "x-api-key");
		expect(performance.now() - started).toBeGreaterThanOrEqual(55);
		expect(events.filter((e) => e.delta?.type === "text_delta")).toHaveLength(3);
	});
});

describe("holds", () => {
	it("stops after the given number of deltas until released, then sends the rest", async () => {
		const key = freshKey();
		let release: () => void = () => {};
		const until = new Promise<void>((r) => {
			release = r;
		});
		llm.script(key, [{ kind: "text", text: "one two three four", hold: { afterDeltas: 2, until } }]);
		const response = await post("/chat/completions", key, chatBody);
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		let text = "";
		// Complete frames only: a read may end mid-frame.
		const deltas = () =>
			text
				.split("\n\n")
				.slice(0, -1)
				.map((frame) => frame.replace(/^data: /, ""))
				.filter((data) => data !== "[DONE]")
				.map((data) => JSON.parse(data).choices?.[0]?.delta?.content)
				.filter((c) => typeof c === "string" && c !== "");
		while (deltas().length < 2) text += decoder.decode((await reader.read()).value, { stream: true });
		// Nothing more comes while held: the next read only ends once the hold is released.
		let released = false;
		const next = reader.read().then((r) => {
			expect(released).toBe(true);
			return r;
		});
		await new Promise((r) => setImmediate(r));
		released = true;
		release();
		text += decoder.decode((await next).value, { stream: true });
		for (;;) {
			const r = await reader.read();
			if (r.done) break;
			text += decoder.decode(r.value, { stream: true });
		}
		expect(deltas().join("")).toBe("one two three four");
	});
});

describe("scripted tool calls follow the tools the request offers", () => {
	const schema = (properties: string[]) => ({
		type: "object",
		properties: Object.fromEntries(properties.map((p) => [p, {}])),
	});

	it("calls 2.x's shell for a scripted bash, and passes path for filePath, in each wire format", () => {
		const chat = { tools: [{ type: "function", function: { name: "shell", parameters: schema(["command"]) } }] };
		expect(asOffered({ name: "bash", args: { command: "ls" } }, chat)).toEqual({
			name: "shell",
			args: { command: "ls" },
		});
		const responses = { tools: [{ type: "function", name: "write", parameters: schema(["path", "content"]) }] };
		expect(asOffered({ name: "write", args: { filePath: "a", content: "x" } }, responses)).toEqual({
			name: "write",
			args: { path: "a", content: "x" },
		});
		const anthropic = { tools: [{ name: "write", input_schema: schema(["filePath", "content"]) }] };
		expect(asOffered({ name: "write", args: { filePath: "a", content: "x" } }, anthropic).args).toEqual({
			filePath: "a",
			content: "x",
		});
	});

	it("calls a tool offered under neither name as scripted", () => {
		expect(asOffered({ name: "bash", args: { command: "ls" } }, { tools: [] })).toEqual({
			name: "bash",
			args: { command: "ls" },
		});
	});
});
