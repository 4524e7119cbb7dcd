import { describe, expect, test } from "bun:test";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import type { Turn } from "../support/scripted-llm";
import { readStream } from "../support/sse-client";

/** The provider misbehaving: every case ends in its documented state, and none hangs. */
const e2e = useE2eSidecar({ env: { PROVIDER_MAX_RETRIES: "2", PROVIDER_IDLE_TIMEOUT: "2", SESSION_TIMEOUT: "90" } });

async function run(turns: Turn[], provider: "openai" | "anthropic" | "openai-compatible" = "openai-compatible") {
	const key = e2e.newKey("sk-fault", turns);
	const body = sessionBody({ model_config: { provider, api_key: key, api_endpoint: e2e.llm.url } });
	expect((await postSession(e2e.sidecar.url, body)).status).toBe(201);
	const r = await readStream(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`);
	const events = r.events.filter((e) => e.event !== "heartbeat");
	e2e.seen.push(events);
	const status = (await (await fetch(`${e2e.sidecar.url}/sessions/${body.session_id}/status`)).json()) as Record<
		string,
		any
	>;
	return { key, events, status, terminal: events.at(-1), final: events.at(-2) };
}

describe("the provider misbehaving", () => {
	test("403: fatal provider_auth with a clear message", async () => {
		const r = await run([{ kind: "error", status: 403, message: "This key may not use this model" }], "anthropic");
		expect(r.final).toMatchObject({ event: "status", data: { status: "failed" } });
		expect(r.terminal).toMatchObject({ event: "error", data: { fatal: true, code: "provider_auth" } });
		expect(r.terminal?.data.error).toContain("403");
		expect(r.terminal?.data.error).toContain("may not use this model");
	});

	test("429 without Retry-After: a non-fatal error with retry_after, then completed", async () => {
		const r = await run([
			{ kind: "error", status: 429, message: "slow down" },
			{ kind: "text", text: "after the wait" },
		]);
		const retry = r.events.find((e) => e.event === "error");
		expect(retry?.data).toMatchObject({ fatal: false, code: "provider_rate_limited" });
		expect(typeof retry?.data.retry_after).toBe("number");
		expect(r.terminal).toMatchObject({ event: "complete", data: { final_message: "after the wait" } });
	});

	test("429 that never stops: the run fails after PROVIDER_MAX_RETRIES instead of retrying forever", async () => {
		const limited: Turn = {
			kind: "error",
			status: 429,
			message: "Rate limit reached",
			headers: { "retry-after": "0" },
		};
		const r = await run([limited, limited, limited, limited, limited, limited]);
		const retries = r.events.filter((e) => e.event === "error" && !e.data.fatal);
		expect(retries.length).toBe(3);
		expect(r.terminal).toMatchObject({ event: "error", data: { fatal: true, code: "provider_rate_limited" } });
		expect(r.terminal?.data.error).toContain("PROVIDER_MAX_RETRIES");
		expect(r.status).toMatchObject({ status: "failed", error: { code: "provider_rate_limited" } });
	});

	test("500s: retried, then the run fails with provider_error", async () => {
		const boom: Turn = { kind: "error", status: 500, message: "internal error", headers: { "retry-after": "0" } };
		const r = await run([boom, boom, boom, boom, boom, boom]);
		expect(r.final).toMatchObject({ event: "status", data: { status: "failed" } });
		expect(r.terminal).toMatchObject({ event: "error", data: { fatal: true, code: "provider_error" } });
	});

	test("a stream that stops mid-answer is retried by the engine and the run completes", async () => {
		const r = await run([
			{ kind: "truncate", text: "half an ans" },
			{ kind: "text", text: "A whole answer." },
		]);
		expect(r.terminal?.event).toBe("complete");
		// Whether the engine keeps the cut-off partial text in the message depends on how much of it it had parsed.
		expect(r.terminal?.data.final_message).toEndWith("A whole answer.");
	});

	test("a stream that never sends anything fails the run with provider_timeout after PROVIDER_IDLE_TIMEOUT", async () => {
		const started = Date.now();
		const r = await run([{ kind: "hang" }]);
		expect(r.terminal).toMatchObject({ event: "error", data: { fatal: true, code: "provider_timeout" } });
		expect(r.status).toMatchObject({ status: "failed", error: { code: "provider_timeout" } });
		// Ended by the provider timeout (2 s), far from SESSION_TIMEOUT (90 s).
		expect(Date.now() - started).toBeLessThan(60_000);
	});

	test("a malformed stream ends the run in a terminal state instead of hanging", async () => {
		const garbage: Turn = {
			kind: "raw",
			body: 'data: {"choices": [{"delta": {"content": "hel\n\ndata: not json at all\n\n',
		};
		const r = await run([garbage, garbage, garbage, garbage, garbage]);
		expect(["complete", "error"]).toContain(r.terminal?.event as string);
		expect(r.final?.event).toBe("status");
		expect(["completed", "failed"]).toContain(r.status.status);
	});
});
