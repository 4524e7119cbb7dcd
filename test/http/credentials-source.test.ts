import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
	CredentialsFetchFailed,
	CredentialsSource,
	MAX_ANSWER_BYTES,
	readCredentialsAnswer,
} from "../../src/credentials/source";
import { type Clock, systemClock } from "../../src/lib/clock";
import { type CredentialsBackend, startCredentialsBackend, startLyingEndpoint } from "../support/credentials-backend";
import { ManualClock } from "../support/manual-clock";

/** The credentials client against a local endpoint speaking the wire format (API_CONTRACT.md). */
const SECRET = `secret-${crypto.randomUUID()}`;
let backend: CredentialsBackend;
beforeAll(() => {
	backend = startCredentialsBackend();
});
afterAll(async () => {
	await backend.close();
});

const source = (url = backend.url, timeoutMs = 2000, clock: Clock = systemClock) =>
	new CredentialsSource({ url, secret: SECRET, timeoutMs, clock });
const ask = (s: CredentialsSource, sessionId: string) =>
	s.fetchKey({ sessionId, provider: "anthropic", reason: "restart" });

/** The message a failed fetch ends with; it never quotes the secret. */
async function failure(p: Promise<string>): Promise<string> {
	const error = await p.then(
		() => undefined,
		(e: unknown) => e,
	);
	expect(error).toBeInstanceOf(CredentialsFetchFailed);
	const message = (error as Error).message;
	expect(message).not.toContain(SECRET);
	return message;
}

describe("CredentialsSource", () => {
	test("POSTs session, provider and reason with the shared secret as bearer token; returns api_key", async () => {
		const id = crypto.randomUUID();
		backend.answer(id, { kind: "key", key: "sk-fetched" });
		expect(await source().fetchKey({ sessionId: id, provider: "openai", reason: "unauthorized" })).toBe("sk-fetched");
		expect(backend.asks.filter((a) => a.session_id === id)).toEqual([
			{ session_id: id, provider: "openai", reason: "unauthorized", authorization: `Bearer ${SECRET}` },
		]);
	});

	test("extra fields in the answer are ignored", async () => {
		const id = crypto.randomUUID();
		backend.answer(id, { kind: "json", body: { api_key: "sk-x", expires_at: "2030-01-01T00:00:00Z" } });
		expect(await ask(source(), id)).toBe("sk-x");
	});

	test("concurrent asks for one session and reason share one request", async () => {
		const id = crypto.randomUUID();
		backend.answer(id, { kind: "key", key: "sk-once" });
		const s = source();
		expect(await Promise.all([ask(s, id), ask(s, id), ask(s, id)])).toEqual(["sk-once", "sk-once", "sk-once"]);
		expect(backend.asks.filter((a) => a.session_id === id)).toHaveLength(1);
	});

	test.each([
		["404", { kind: "status", status: 404 } as const, "answered HTTP 404"],
		["500", { kind: "status", status: 500, body: "boom" } as const, "answered HTTP 500"],
		["a redirect (never followed with the secret)", { kind: "status", status: 302 } as const, "answered HTTP 302"],
		["a body that is not JSON", { kind: "raw", body: "<html>ok</html>" } as const, "not JSON"],
		["no api_key", { kind: "json", body: { key: "sk-wrong-field" } } as const, "no api_key"],
		["an empty api_key", { kind: "json", body: { api_key: "" } } as const, "no api_key"],
	])("%s is a failure that names it", async (_label, answer, words) => {
		const id = crypto.randomUUID();
		backend.answer(id, answer);
		expect(await failure(ask(source(), id))).toContain(words);
	});

	test("an endpoint that does not answer by CREDENTIALS_TIMEOUT on the injected clock is a failure naming it", async () => {
		const id = crypto.randomUUID();
		backend.answer(id, { kind: "hang" });
		const clock = new ManualClock();
		let settled = false;
		const fetched = ask(source(backend.url, 60_000, clock), id).finally(() => {
			settled = true;
		});
		await backend.asked(id);
		clock.advance(59_999);
		await Promise.resolve();
		expect(settled).toBe(false);
		clock.advance(1);
		expect(await failure(fetched)).toContain("did not answer within 60s (CREDENTIALS_TIMEOUT)");
		expect(clock.pendingTimers).toBe(0);
	});

	test("an answer in time leaves no timer on the clock", async () => {
		const id = crypto.randomUUID();
		backend.answer(id, { kind: "key", key: "sk-in-time" });
		const clock = new ManualClock();
		expect(await ask(source(backend.url, 60_000, clock), id)).toBe("sk-in-time");
		expect(clock.pendingTimers).toBe(0);
	});

	test("an endpoint that is down is a failure saying it could not be reached", async () => {
		const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
		const url = `http://127.0.0.1:${closed.port}/credentials`;
		await closed.stop(true);
		expect(await failure(ask(source(url), crypto.randomUUID()))).toContain("could not be reached");
	});
});

describe("containment: a huge credentials answer", () => {
	test("an answer streamed past 64 KiB is a failure naming the limit, cut off while read, not read to its end", async () => {
		expect(MAX_ANSWER_BYTES).toBe(64 * 1024);
		const id = crypto.randomUUID();
		const total = 64 * 1024 * 1024;
		backend.answer(id, { kind: "huge", bytes: total });
		expect(await failure(ask(source(backend.url, 120_000), id))).toBe(
			"the credentials endpoint's answer is larger than 64 KiB (the limit)",
		);
		// The reader hung up: the endpoint made its first chunks and what the sockets' buffers took, not 64 MiB.
		expect(backend.streamed(id)).toBeGreaterThan(MAX_ANSWER_BYTES);
		expect(backend.streamed(id)).toBeLessThan(total / 2);
	});

	test("an answer whose Content-Length is over 64 KiB is refused before its body is read, and the connection closed", async () => {
		// The endpoint never sends a body byte: reading it would wait for the 30 s timeout.
		const lying = await startLyingEndpoint(400 * 1024 * 1024);
		try {
			expect(await failure(ask(source(lying.url, 30_000), crypto.randomUUID()))).toBe(
				"the credentials endpoint's answer is larger than 64 KiB (the limit)",
			);
			await lying.hungUp;
		} finally {
			await lying.close();
		}
	});

	test("an answer of exactly 64 KiB is read", async () => {
		const id = crypto.randomUUID();
		const text = JSON.stringify({ api_key: "sk-big-answer", padding: "" });
		backend.answer(id, { kind: "raw", body: text.replace('""', `"${"p".repeat(MAX_ANSWER_BYTES - text.length)}"`) });
		expect(await ask(source(), id)).toBe("sk-big-answer");
	});
});

describe("readCredentialsAnswer", () => {
	test("reads the key of a 200 JSON answer and nothing else", () => {
		expect(readCredentialsAnswer(200, '{"api_key":"k"}')).toEqual({ apiKey: "k" });
		expect(readCredentialsAnswer(201, '{"api_key":"k"}')).toEqual({
			error: "the credentials endpoint answered HTTP 201",
		});
		expect(readCredentialsAnswer(200, '"k"')).toEqual({
			error: "the credentials endpoint's answer has no api_key string",
		});
		expect(readCredentialsAnswer(200, "null")).toEqual({
			error: "the credentials endpoint's answer has no api_key string",
		});
		expect(readCredentialsAnswer(200, '{"api_key":42}')).toEqual({
			error: "the credentials endpoint's answer has no api_key string",
		});
	});
});
