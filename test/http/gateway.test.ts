import { afterAll, beforeAll, expect, test } from "bun:test";
import type { SessionCredentials } from "../../src/gateway/credentials";
import { type Gateway, startGateway } from "../../src/gateway/server";
import { createLogger } from "../../src/lib/log";
import { type ScriptedLlm, startScriptedLlm } from "../support/scripted-llm";

const TOKEN = "gateway-token-for-tests-0123456789";
let llm: ScriptedLlm;
let gateway: Gateway;
const sessions = new Map<string, SessionCredentials>();
const notices: string[] = [];
const stalls: { session: string; message: string }[] = [];
let onStall: (() => void) | undefined;
const logLines: string[] = [];

function creds(over: Partial<SessionCredentials>): SessionCredentials {
	return {
		sessionId: crypto.randomUUID(),
		provider: "openai-compatible",
		apiKey: `sk-gw-${crypto.randomUUID()}`,
		endpoint: llm.url,
		model: "gw-model",
		temperature: 0.1,
		maxTokens: 77,
		notice: (m) => notices.push(m),
		...over,
		stalled: (message) => {
			stalls.push({ session: over.sessionId ?? "", message });
			onStall?.();
		},
	};
}

beforeAll(async () => {
	llm = await startScriptedLlm();
	gateway = startGateway({
		token: TOKEN,
		resolve: async (id) => sessions.get(id),
		log: createLogger("debug", { write: (l: string) => void logLines.push(l) }),
		idleTimeoutMs: 400,
	});
});

afterAll(async () => {
	await gateway?.stop();
	await llm?.close();
});

const call = (
	path: string,
	init: {
		token?: string;
		session?: string;
		body?: unknown;
		method?: string;
	} = {},
) =>
	fetch(`${gateway.url}${path}`, {
		method: init.method ?? "POST",
		headers: {
			"content-type": "application/json",
			...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
			...(init.session === undefined ? {} : { "x-session-id": init.session }),
		},
		...(init.method === "GET" ? {} : { body: JSON.stringify(init.body ?? { messages: [], stream: true }) }),
	});

test("listens on loopback only", () => {
	expect(new URL(gateway.url).hostname).toBe("127.0.0.1");
});

test("refuses callers without the engine's token", async () => {
	sessions.set("ses_a", creds({}));
	for (const token of [undefined, "", "wrong", `${TOKEN}x`]) {
		const res = await call("/openai-compatible/chat/completions", {
			token,
			session: "ses_a",
		});
		expect(res.status).toBe(401);
	}
	expect(llm.requests.length).toBe(0);
});

test("refuses calls that belong to no live session", async () => {
	for (const session of [undefined, "ses_unknown"]) {
		const res = await call("/openai-compatible/chat/completions", {
			token: TOKEN,
			session,
		});
		expect(res.status).toBe(403);
		expect(((await res.json()) as { error: { message: string } }).error.message).toContain("no live session");
	}
	expect(llm.requests.length).toBe(0);
});

test("refuses a provider route that does not match the session, and anything but the one API path", async () => {
	sessions.set("ses_b", creds({ provider: "anthropic" }));
	expect((await call("/openai/responses", { token: TOKEN, session: "ses_b" })).status).toBe(400);
	expect(
		(
			await call("/anthropic/models", {
				token: TOKEN,
				session: "ses_b",
				method: "GET",
			})
		).status,
	).toBe(404);
	expect((await call("/anthropic/complete", { token: TOKEN, session: "ses_b" })).status).toBe(404);
	expect((await call("/nope/messages", { token: TOKEN, session: "ses_b" })).status).toBe(404);
	expect(llm.requests.length).toBe(0);
});

test("forwards with the session's key, model and limits, and without the engine's headers", async () => {
	const c = creds({});
	sessions.set("ses_c", c);
	llm.script(c.apiKey, [{ kind: "text", text: "forwarded" }]);
	const res = await call("/openai-compatible/chat/completions", {
		token: TOKEN,
		session: "ses_c",
		body: {
			model: "session-model",
			messages: [{ role: "user", content: "hi" }],
			stream: true,
			temperature: 1,
		},
	});
	expect(res.status).toBe(200);
	expect(await res.text()).toContain("forwarded");
	const seen = llm.requests.at(-1);
	expect(seen?.key).toBe(c.apiKey);
	expect(seen?.body).toMatchObject({
		model: "gw-model",
		temperature: 0.1,
		max_tokens: 77,
	});
	expect(seen?.headers["x-session-id"]).toBeUndefined();
	expect(JSON.stringify(seen?.headers)).not.toContain(TOKEN);
});

test("scrubs the key out of a provider's error body", async () => {
	const c = creds({ provider: "anthropic" });
	sessions.set("ses_d", c);
	llm.script(c.apiKey, [{ kind: "error", status: 401, message: `bad key ${c.apiKey}` }]);
	const res = await call("/anthropic/messages", {
		token: TOKEN,
		session: "ses_d",
		body: { messages: [], max_tokens: 5 },
	});
	expect(res.status).toBe(401);
	const text = await res.text();
	expect(text).not.toContain(c.apiKey);
	expect(text).toContain("[REDACTED]");
});

test("an unreachable provider is a 502 that names neither key nor token", async () => {
	const c = creds({ endpoint: "http://127.0.0.1:9/v1" });
	sessions.set("ses_e", c);
	const res = await call("/openai-compatible/chat/completions", {
		token: TOKEN,
		session: "ses_e",
	});
	expect(res.status).toBe(502);
	const text = await res.text();
	expect(text).not.toContain(c.apiKey);
	expect(logLines.join("")).not.toContain(c.apiKey);
	expect(logLines.join("")).not.toContain(TOKEN);
});

test("a provider that goes silent past the idle timeout ends the call and reports the stall", async () => {
	const c = creds({ sessionId: "silent-session" });
	sessions.set("ses_f", c);
	llm.script(c.apiKey, [{ kind: "hang" }]);
	const stalled = new Promise<void>((resolve) => {
		onStall = resolve;
	});
	const res = await call("/openai-compatible/chat/completions", { token: TOKEN, session: "ses_f" });
	// Headers came (the provider accepted the call), then nothing: the body must end in an error, not hang.
	expect(res.status).toBe(200);
	const body = res.text();
	await stalled;
	await expect(body).rejects.toBeDefined();
	expect(stalls.at(-1)).toMatchObject({ session: "silent-session" });
	expect(stalls.at(-1)?.message).toContain("PROVIDER_IDLE_TIMEOUT");
});

test("an active stream is not cut by the idle timeout however long it lasts", async () => {
	const c = creds({});
	sessions.set("ses_g", c);
	// 12 deltas 100 ms apart: 1.2 s in all, three times the idle timeout, never idle for long.
	llm.script(c.apiKey, [{ kind: "text", text: "a b c d e f g h i j k l", chunks: 12, delayMs: 100 }]);
	const before = stalls.length;
	const res = await call("/openai-compatible/chat/completions", { token: TOKEN, session: "ses_g" });
	const text = await res.text();
	expect(text).toContain("[DONE]");
	expect(stalls.length).toBe(before);
});
