import { describe, expect, test } from "bun:test";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import { TEST_ENGINE } from "../support/engine-release";
import type { Turn } from "../support/scripted-llm";
import { followWithEventSource, type Received, readStream } from "../support/sse-client";

const e2e = useE2eSidecar({
	env: {
		// Long enough for a tool turn and a 429's retry on a loaded machine (4 s timed them out in CI at load ~10);
		// the timeout test waits it out once.
		SESSION_TIMEOUT: "20",
		MAX_CONCURRENT_SESSIONS: "2",
		HEARTBEAT_INTERVAL: "0.3",
	},
});
const { seen } = e2e;

async function start(turns: Turn[], provider: "openai" | "anthropic" | "openai-compatible" = "openai-compatible") {
	const key = e2e.newKey("sk-life", turns);
	const body = sessionBody({
		model_config: { provider, api_key: key, api_endpoint: e2e.llm.url },
	});
	const res = await postSession(e2e.sidecar.url, body);
	expect(res.status).toBe(201);
	return {
		id: body.session_id,
		key,
		stream: `${e2e.sidecar.url}/sessions/${body.session_id}/stream`,
	};
}

const withoutHeartbeats = (events: Received[]) => events.filter((e) => e.event !== "heartbeat");

describe("ending a run", () => {
	test("DELETE aborts a running session at once and is idempotent", async () => {
		const s = await start([{ kind: "hang" }]);
		// Wait until the provider call is really in flight.
		await e2e.llm.waitForRequest((r) => r.key === s.key, 30_000);
		const del = await fetch(`${e2e.sidecar.url}/sessions/${s.id}`, {
			method: "DELETE",
		});
		expect(del.status).toBe(200);
		const body = (await del.json()) as { status: string; cancelled_at: string };
		expect(body).toMatchObject({ session_id: s.id, status: "cancelled" });
		expect(Date.parse(body.cancelled_at)).toBeGreaterThan(0);
		const events = withoutHeartbeats((await readStream(s.stream)).events);
		seen.push(events);
		expect(events.slice(-2)).toMatchObject([
			{ event: "status", data: { status: "cancelled" } },
			{ event: "error", data: { fatal: true, code: "cancelled" } },
		]);
		const again = await fetch(`${e2e.sidecar.url}/sessions/${s.id}`, {
			method: "DELETE",
		});
		expect(await again.json()).toEqual(body);
		const status = (await (await fetch(`${e2e.sidecar.url}/sessions/${s.id}/status`)).json()) as Record<
			string,
			unknown
		>;
		expect(status).toMatchObject({
			status: "cancelled",
			error: { code: "cancelled" },
		});
	});

	test("a run longer than SESSION_TIMEOUT ends with a terminal timeout error", async () => {
		const s = await start([{ kind: "hang" }]);
		const events = withoutHeartbeats(await followWithEventSource(s.stream));
		seen.push(events);
		expect(events.slice(-2)).toMatchObject([
			{ event: "status", data: { status: "timeout" } },
			{ event: "error", data: { fatal: true, code: "timeout" } },
		]);
		const status = (await (await fetch(`${e2e.sidecar.url}/sessions/${s.id}/status`)).json()) as Record<
			string,
			unknown
		>;
		expect(status).toMatchObject({
			status: "timeout",
			error: { code: "timeout" },
		});
	});

	test("a 401 from the provider fails the run with a fatal error and no key in it", async () => {
		const s = await start([{ kind: "error", status: 401, message: "Incorrect API key provided" }], "openai");
		const events = withoutHeartbeats(await followWithEventSource(s.stream));
		seen.push(events);
		const [status, terminal] = events.slice(-2);
		expect(status).toMatchObject({
			event: "status",
			data: { status: "failed" },
		});
		expect(terminal).toMatchObject({
			event: "error",
			data: { fatal: true, code: "provider_auth" },
		});
		expect(terminal?.data.error).toContain("401");
	});

	test("a provider that echoes the key in its error never gets it into events or logs", async () => {
		const key = e2e.newKey("sk-echo");
		e2e.llm.script(key, [
			{
				kind: "error",
				status: 401,
				message: `Incorrect API key provided: ${key}`,
			},
		]);
		const body = sessionBody({
			model_config: {
				provider: "anthropic",
				api_key: key,
				api_endpoint: e2e.llm.url,
			},
		});
		expect((await postSession(e2e.sidecar.url, body)).status).toBe(201);
		const events = withoutHeartbeats(
			await followWithEventSource(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`),
		);
		seen.push(events);
		const terminal = events.at(-1);
		expect(terminal).toMatchObject({
			event: "error",
			data: { fatal: true, code: "provider_auth" },
		});
		expect(terminal?.data.error).toContain("[REDACTED]");
		expect(JSON.stringify(events)).not.toContain(key);
	});

	test("429s become non-fatal errors with retry_after, then the run completes", async () => {
		const s = await start([
			{
				kind: "error",
				status: 429,
				message: "Rate limit reached",
				headers: { "retry-after": "1" },
			},
			{ kind: "text", text: "Finished after waiting." },
		]);
		const events = withoutHeartbeats(await followWithEventSource(s.stream));
		seen.push(events);
		const retry = events.find((e) => e.event === "error");
		expect(retry?.data).toMatchObject({
			fatal: false,
			code: "provider_rate_limited",
		});
		expect(retry?.data.retry_after).toBeGreaterThanOrEqual(0);
		// 2.1.2 waits about 2 s whatever the provider's retry-after of 1 s (its retry is scheduled at +2.02 s).
		expect(retry?.data.retry_after).toBeLessThanOrEqual(TEST_ENGINE === "2" ? 3 : 2);
		expect(events.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: "Finished after waiting." },
		});
	});
});

describe("limits", () => {
	test("MAX_CONCURRENT_SESSIONS running sessions make the next POST a 503 with Retry-After", async () => {
		const a = await start([{ kind: "hang" }]);
		const b = await start([{ kind: "hang" }]);
		const key = e2e.newKey("sk-limit", [{ kind: "text", text: "ok" }]);
		const third = sessionBody({
			model_config: { api_key: key, api_endpoint: e2e.llm.url },
		});
		const refused = await postSession(e2e.sidecar.url, third);
		expect(refused.status).toBe(503);
		expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
		expect(await refused.json()).toMatchObject({ code: "too_many_sessions" });
		// The refused id was not kept: after a slot frees up the same request is accepted.
		await fetch(`${e2e.sidecar.url}/sessions/${a.id}`, { method: "DELETE" });
		expect((await postSession(e2e.sidecar.url, third)).status).toBe(201);
		await fetch(`${e2e.sidecar.url}/sessions/${b.id}`, { method: "DELETE" });
		await followWithEventSource(`${e2e.sidecar.url}/sessions/${third.session_id}/stream`);
	});
});

describe("the stream", () => {
	let full: Received[] = [];
	let id = "";

	test("replay from any middle id equals the rest of the original sequence; 204 after the end", async () => {
		const s = await start([
			{
				kind: "tool",
				text: "Listing.",
				calls: [
					{
						name: "bash",
						args: { command: "echo one; echo two 1>&2", description: "print" },
					},
				],
			},
			{ kind: "text", text: "All done here." },
		]);
		id = s.id;
		full = withoutHeartbeats(await followWithEventSource(s.stream));
		seen.push(full);
		// Live bash output arrived as tool output.
		expect(full.some((e) => e.event === "output" && e.data.source === "tool" && e.data.text.includes("one"))).toBe(
			true,
		);
		const last = full.length;
		for (const from of [1, Math.floor(last / 2), last - 1]) {
			const viaHeader = await readStream(s.stream, {
				headers: { "Last-Event-ID": String(from) },
			});
			expect(withoutHeartbeats(viaHeader.events)).toEqual(full.slice(from));
			const viaQuery = await readStream(`${s.stream}?last_event_id=${from}`);
			expect(withoutHeartbeats(viaQuery.events)).toEqual(full.slice(from));
		}
		const done = await readStream(s.stream, {
			headers: { "Last-Event-ID": String(last) },
		});
		expect(done.status).toBe(204);
	});

	test("the stream is sent with SSE headers, a retry hint first, and heartbeats without ids", async () => {
		const s = await start([{ kind: "hang" }]);
		const r = await readStream(s.stream, {
			until: (_e, all) => all.filter((x) => x.event === "heartbeat").length >= 2,
		});
		expect(r.status).toBe(200);
		expect(r.headers.get("content-type")).toStartWith("text/event-stream");
		expect(r.headers.get("cache-control")).toBe("no-cache, no-transform");
		expect(r.headers.get("x-accel-buffering")).toBe("no");
		expect(r.text).toStartWith(": stream open\nretry: 2000\n\n");
		const beats = r.events.filter((e) => e.event === "heartbeat");
		expect(beats.length).toBeGreaterThanOrEqual(2);
		for (const b of beats) expect(b.data).toEqual({});
		// Heartbeat frames carry no id line, so they never move a client's Last-Event-ID.
		const frames = r.text.split("\n\n").filter((f) => f.includes("event: heartbeat"));
		expect(frames.length).toBe(beats.length);
		for (const f of frames) expect(f).toBe("event: heartbeat\ndata: {}");
		await fetch(`${e2e.sidecar.url}/sessions/${s.id}`, { method: "DELETE" });
	});

	test("a malformed Last-Event-ID is a 400 with the error envelope", async () => {
		for (const bad of ["abc", "-7", "x1.5", "99999999999999999999", "12 34"]) {
			const r = await fetch(`${e2e.sidecar.url}/sessions/${id}/stream`, {
				headers: { "Last-Event-ID": bad },
			});
			expect(r.status).toBe(400);
			const { timestamp: _t, ...body } = (await r.json()) as Record<string, unknown>;
			expect(body).toMatchObject({
				code: "invalid_request",
				details: { field: "Last-Event-ID" },
			});
			expect(JSON.stringify(body)).not.toContain(bad);
		}
		const beyond = await fetch(`${e2e.sidecar.url}/sessions/${id}/stream`, {
			headers: { "Last-Event-ID": "100000" },
		});
		expect(beyond.status).toBe(400);
	});

	test("events survive a sidecar restart on the same state directory", async () => {
		await e2e.restart({ warmUp: false });
		const replay = await readStream(`${e2e.sidecar.url}/sessions/${id}/stream`);
		expect(withoutHeartbeats(replay.events)).toEqual(full);
		const status = (await (await fetch(`${e2e.sidecar.url}/sessions/${id}/status`)).json()) as Record<string, unknown>;
		expect(status).toMatchObject({
			status: "completed",
			last_event_id: full.length,
		});
	});
});
