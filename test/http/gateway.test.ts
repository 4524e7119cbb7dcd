import { afterAll, beforeAll, expect, test } from "bun:test";
import type { GatewaySignal, SessionCredentials } from "../../src/gateway/credentials";
import { type Gateway, startGateway } from "../../src/gateway/server";
import { createLogger } from "../../src/lib/log";
import { ManualClock } from "../support/manual-clock";
import { type ScriptedLlm, startScriptedLlm } from "../support/scripted-llm";

const TOKEN = "gateway-token-for-tests-0123456789";
let llm: ScriptedLlm;
let gateway: Gateway;
const sessions = new Map<string, SessionCredentials>();
const notices: string[] = [];
const stalls: { session: string; message: string }[] = [];
let onStall: (() => void) | undefined;
const logLines: string[] = [];
/** The idle watchdog runs on this clock only: real time passing never fires it. */
const clock = new ManualClock();
const IDLE_MS = 60_000;

function creds(over: Partial<SessionCredentials>): SessionCredentials {
	return {
		sessionId: crypto.randomUUID(),
		provider: "openai-compatible",
		apiKey: `sk-gw-${crypto.randomUUID()}`,
		endpoint: llm.url,
		model: "gw-model",
		temperature: 0.1,
		max_tokens: 77,
		...over,
	};
}

beforeAll(async () => {
	llm = await startScriptedLlm();
	gateway = startGateway({
		token: TOKEN,
		log: createLogger("debug", { write: (l: string) => void logLines.push(l) }),
		idleTimeoutMs: IDLE_MS,
		clock,
	});
	notServing = await chat(gateway, "ses_early");
	gateway.serve({ resolve: async (id) => sessions.get(id) });
	gateway.onSignal(listen);
});

/** The gateway reports; here the test is the sessions layer that listens. */
function listen(signal: GatewaySignal): void {
	if (signal.kind === "notice") notices.push(signal.message);
	if (signal.kind !== "stalled") return;
	stalls.push({ session: sessions.get(signal.engineSessionId)?.sessionId ?? "", message: signal.message });
	onStall?.();
}

afterAll(async () => {
	await gateway?.stop();
	await llm?.close();
});

let notServing: Response;
/** One streamed chat call of `session` through `gw`. */
const chat = (gw: Gateway, session: string) =>
	fetch(`${gw.url}/openai-compatible/chat/completions`, {
		method: "POST",
		headers: { authorization: `Bearer ${TOKEN}`, "x-session-id": session, "content-type": "application/json" },
		body: JSON.stringify({ messages: [], stream: true }),
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

test("reports each call as signals keyed by the engine session: started, then the provider's status", async () => {
	const seen: GatewaySignal[] = [];
	const stop = gateway.onSignal((signal) => {
		if (signal.engineSessionId === "ses_signals") seen.push(signal);
	});
	const c = creds({});
	sessions.set("ses_signals", c);
	llm.script(c.apiKey, [{ kind: "error", status: 429, message: "slow down" }]);
	const res = await call("/openai-compatible/chat/completions", { token: TOKEN, session: "ses_signals" });
	expect(res.status).toBe(429);
	await res.text();
	stop();
	expect(seen).toEqual([
		{ kind: "call", engineSessionId: "ses_signals", provider: "openai-compatible" },
		{ kind: "upstream", engineSessionId: "ses_signals", status: 429 },
	]);
	expect(JSON.stringify(seen)).not.toContain(c.apiKey);
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
	const before = stalls.length;
	clock.advance(IDLE_MS - 1);
	expect(stalls.length).toBe(before);
	clock.advance(1);
	await stalled;
	await expect(body).rejects.toBeDefined();
	expect(stalls.at(-1)).toMatchObject({ session: "silent-session" });
	expect(stalls.at(-1)?.message).toContain("PROVIDER_IDLE_TIMEOUT");
	expect(stalls.at(-1)?.message).toContain("60s");
});

test("an active stream is not cut by the idle timeout however long it lasts", async () => {
	const c = creds({});
	sessions.set("ses_g", c);
	llm.script(c.apiKey, [{ kind: "text", text: "a b c d e f g h i j k l", chunks: 12, delayMs: 5 }]);
	const before = stalls.length;
	const res = await call("/openai-compatible/chat/completions", { token: TOKEN, session: "ses_g" });
	const reader = (res.body as ReadableStream<Uint8Array>).getReader();
	const decoder = new TextDecoder();
	let text = "";
	let reads = 0;
	let frames = 0;
	// Three quarters of the idle timeout after every read that completed an SSE frame: many times the timeout in all,
	// never idle for long. Per frame, not per read: loopback may split one provider chunk over two reads, and the
	// gateway's idle clock restarts per provider chunk (a frame it relayed), not per read of the client's.
	for (let r = await reader.read(); !r.done; r = await reader.read()) {
		text += decoder.decode(r.value, { stream: true });
		const complete = text.split("\n\n").length - 1;
		if (complete > frames) {
			frames = complete;
			reads++;
			clock.advance((IDLE_MS * 3) / 4);
		}
	}
	expect(reads).toBeGreaterThan(2);
	expect(text).toContain("[DONE]");
	expect(stalls.length).toBe(before);
	// The call is over: its watchdog is gone.
	expect(clock.pendingTimers).toBe(0);
});

test("a provider that never answers is cut after the idle timeout with a 504", async () => {
	let called: (() => void) | undefined;
	const fetchCalled = new Promise<void>((resolve) => {
		called = resolve;
	});
	const silentClock = new ManualClock();
	const silent = startGateway({
		token: TOKEN,
		log: createLogger("error", { write: () => {} }),
		idleTimeoutMs: IDLE_MS,
		clock: silentClock,
		fetch: ((_url: string, init: RequestInit) =>
			new Promise<Response>((_resolve, reject) => {
				init.signal?.addEventListener("abort", () => reject(new Error("aborted")));
				called?.();
			})) as unknown as typeof fetch,
	});
	silent.serve({ resolve: async (id) => sessions.get(id) });
	silent.onSignal(listen);
	try {
		const c = creds({ sessionId: "mute-session" });
		sessions.set("ses_mute", c);
		const res = chat(silent, "ses_mute");
		await fetchCalled;
		silentClock.advance(IDLE_MS);
		expect((await res).status).toBe(504);
		expect(stalls.at(-1)).toMatchObject({ session: "mute-session" });
		expect(silentClock.pendingTimers).toBe(0);
	} finally {
		await silent.stop();
	}
});

test("answers 503 until it is told where sessions are, and is told once", async () => {
	expect(notServing.status).toBe(503);
	expect(await notServing.json()).toMatchObject({ error: { message: "gateway: not serving yet" } });
	expect(() => gateway.serve({ resolve: async () => undefined })).toThrow("already serves");
	const c = creds({});
	llm.script(c.apiKey, [{ kind: "text", text: "served" }]);
	sessions.set("ses_early", c);
	const res = await chat(gateway, "ses_early");
	expect(res.status).toBe(200);
	expect(await res.text()).toContain("served");
});
