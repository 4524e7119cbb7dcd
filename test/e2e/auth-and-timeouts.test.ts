import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import { readStream } from "../support/sse-client";

const SECRET = "s3cret-shared-token-0123456789";
const auth = { authorization: `Bearer ${SECRET}` };
const e2e = useE2eSidecar({
	// A 1 s idle timeout and a heartbeat far beyond it: only the per-stream exemption keeps a quiet stream open.
	env: {
		OPENCODE_SHARED_SECRET: SECRET,
		HTTP_IDLE_TIMEOUT: "1",
		HEARTBEAT_INTERVAL: "60",
		MAX_SUBSCRIBERS_PER_SESSION: "2",
		MAX_STORED_SESSIONS: "3",
	},
	// The warm-up posts without the bearer token.
	warmUp: false,
	secrets: [SECRET],
});

test("with OPENCODE_SHARED_SECRET every API route needs the bearer token; probes, /ui and /swagger stay open", async () => {
	const id = crypto.randomUUID();
	const routes: [string, string][] = [
		["POST", "/sessions"],
		["GET", "/sessions"],
		["GET", `/sessions/${id}/status`],
		["GET", `/sessions/${id}/stream`],
		["DELETE", `/sessions/${id}`],
		["POST", `/sessions/${id}/messages`],
		["GET", `/sessions/${id}/messages`],
		["GET", `/sessions/${id}/diff`],
		["POST", `/sessions/${id}/questions/que_1`],
		["GET", "/metrics"],
	];
	const attempts: Record<string, string>[] = [
		{},
		{ authorization: "Bearer wrong-token-wrong-token-00" },
		{ authorization: SECRET },
		{ authorization: `Basic ${btoa(`x:${SECRET}`)}` },
	];
	for (const [method, path] of routes) {
		for (const headers of attempts) {
			const res = await fetch(`${e2e.sidecar.url}${path}`, {
				method,
				headers,
				...(method === "POST" ? { body: "{}" } : {}),
			});
			expect(res.status).toBe(401);
			expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
			expect(await res.json()).toMatchObject({ code: "unauthorized" });
		}
	}
	for (const probe of ["/healthz", "/health", "/ready"])
		expect((await fetch(`${e2e.sidecar.url}${probe}`)).status).toBe(200);
	// The pages and the OpenAPI document hold nothing secret, and a browser loading a page sends no bearer header.
	for (const page of ["/ui", `/ui/sessions/${id}`, "/swagger", "/swagger/json"])
		expect([page, (await fetch(`${e2e.sidecar.url}${page}`)).status]).toEqual([page, 200]);

	const key = e2e.newKey("sk-auth", [{ kind: "text", text: "authorised" }]);
	const body = sessionBody({
		model_config: { api_key: key, api_endpoint: e2e.llm.url },
	});
	expect((await postSession(e2e.sidecar.url, body, auth)).status).toBe(201);
	const events = await readStream(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`, { headers: auth });
	expect(events.events.at(-1)).toMatchObject({
		event: "complete",
		data: { final_message: "authorised" },
	});
	expect(
		(
			await fetch(`${e2e.sidecar.url}/sessions/${body.session_id}/status`, {
				headers: auth,
			})
		).status,
	).toBe(200);
});

/** Resolves when the sidecar closes a keep-alive connection that sat idle after a response: HTTP_IDLE_TIMEOUT ran out. */
function idleConnectionClosed(port: number): Promise<void> {
	return new Promise((resolve, reject) => {
		const socket = connect(port, "127.0.0.1");
		socket.on("error", reject);
		socket.on("close", () => resolve());
		socket.resume();
		socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	});
}

test("a quiet stream outlives the HTTP idle timeout", async () => {
	const key = e2e.newKey("sk-quiet", [{ kind: "hang" }]);
	const body = sessionBody({
		model_config: { api_key: key, api_endpoint: e2e.llm.url },
	});
	expect((await postSession(e2e.sidecar.url, body, auth)).status).toBe(201);
	await e2e.llm.waitForRequest((r) => r.key === key, 30_000);
	const controller = new AbortController();
	const reading = readStream(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`, {
		headers: auth,
		signal: controller.signal,
	});
	// Nothing is sent until the idle timeout has closed a connection opened after the stream (Bun checks idle
	// connections every ~4 s: a fixed 3 s wait could end before any was closed); then the run is cancelled and
	// its terminal events must still arrive.
	await idleConnectionClosed(e2e.sidecar.port);
	expect(
		// A new connection: the pooled one from POST /sessions sat idle past HTTP_IDLE_TIMEOUT, and the
		// server's close can cross a request sent on it (ECONNRESET, seen in CI).
		(
			await fetch(`${e2e.sidecar.url}/sessions/${body.session_id}`, {
				method: "DELETE",
				headers: auth,
				keepalive: false,
			})
		).status,
	).toBe(200);
	const r = await reading;
	// Opened with the run's first event, closed only by the run's end: the quiet stretch did not cut it.
	expect(r.events[0]).toMatchObject({ event: "status", data: { status: "running" } });
	expect(r.events.at(-2)).toMatchObject({ event: "status", data: { status: "cancelled" } });
	expect(r.events.at(-1)).toMatchObject({
		data: { code: "cancelled", fatal: true },
	});
});

test("MAX_SUBSCRIBERS_PER_SESSION bounds the streams of one session; a freed slot is reused", async () => {
	const key = e2e.newKey("sk-subs", [{ kind: "hang" }]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
	expect((await postSession(e2e.sidecar.url, body, auth)).status).toBe(201);
	const url = `${e2e.sidecar.url}/sessions/${body.session_id}/stream`;
	// Two open streams, each past its first bytes (so registered).
	const open = async () => {
		const controller = new AbortController();
		const res = await fetch(url, { headers: auth, signal: controller.signal });
		expect(res.status).toBe(200);
		const reader = (res.body as ReadableStream<Uint8Array>).getReader();
		await reader.read();
		return { close: () => controller.abort() };
	};
	const a = await open();
	const b = await open();
	const third = await fetch(url, { headers: auth });
	expect(third.status).toBe(503);
	expect(third.headers.get("retry-after")).toMatch(/^\d+$/);
	expect(await third.json()).toMatchObject({ code: "too_many_subscribers" });
	a.close();
	// The server notices the closed connection on its own schedule: retry until the slot is free.
	let fourth: Response | undefined;
	for (let i = 0; i < 200 && fourth?.status !== 200; i++) {
		await fourth?.body?.cancel();
		fourth = await fetch(url, { headers: auth });
	}
	expect(fourth?.status).toBe(200);
	await fourth?.body?.cancel();
	b.close();
	await fetch(`${e2e.sidecar.url}/sessions/${body.session_id}`, { method: "DELETE", headers: auth });
});

test("MAX_STORED_SESSIONS keeps the newest ended sessions and removes the oldest from disk", async () => {
	const ids: string[] = [];
	for (let i = 0; i < 4; i++) {
		const key = e2e.newKey("sk-prune", [{ kind: "text", text: `run ${i}` }]);
		const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
		expect((await postSession(e2e.sidecar.url, body, auth)).status).toBe(201);
		await readStream(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`, { headers: auth });
		ids.push(body.session_id);
	}
	const list = (await (await fetch(`${e2e.sidecar.url}/sessions`, { headers: auth })).json()) as {
		sessions: { session_id: string }[];
	};
	expect(list.sessions.map((s) => s.session_id)).toEqual([...ids].reverse().slice(0, 3));
	expect((await fetch(`${e2e.sidecar.url}/sessions/${ids[0]}/status`, { headers: auth })).status).toBe(404);
	expect(existsSync(join(e2e.dirs.state, "sessions", ids[0] as string))).toBe(false);
	expect(existsSync(join(e2e.dirs.state, "sessions", ids[3] as string))).toBe(true);
});
