import { describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";
import { makeTempDirs } from "../support/workspace";

const SENTINEL = "SENTINEL-7f3a9c";
const suite = useInProcess({ MAX_BODY_BYTES: "65536" });

const json = (body: unknown, method = "POST"): RequestInit => ({
	method,
	headers: { "content-type": "application/json" },
	body: typeof body === "string" ? body : JSON.stringify(body),
});

async function expectEnvelope(res: Response, status: number, code: string) {
	expect(res.status).toBe(status);
	expect(res.headers.get("content-type")).toStartWith("application/json");
	const body = (await res.json()) as Record<string, unknown>;
	expect(body).toMatchObject({ code });
	expect(typeof body.error).toBe("string");
	expect(Date.parse(String(body.timestamp))).toBeGreaterThan(0);
	return body;
}

describe("probes", () => {
	test("/healthz and /health answer ok", async () => {
		for (const path of ["/healthz", "/health"]) {
			const res = await suite.handle(path);
			expect(res.status).toBe(200);
			expect(await res.json()).toEqual({ status: "ok" });
		}
	});

	test("/ready is 200 with a usable workspace and a live engine", async () => {
		const res = await suite.handle("/ready");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ status: "ready" });
	});

	test("/ready is 503 naming the check that failed", async () => {
		const app = createApp({
			sessions: suite.sidecar.sessions,
			streams: suite.sidecar.streams,
			clock: systemClock,
			log: createLogger("error"),
			maxBodyBytes: 1024,
			sharedSecret: undefined,
			version: "test",
			readiness: {
				workspaceDir: `${suite.dirs.root}/missing`,
				stateDir: suite.dirs.state,
				draining: () => false,
				engineProblem: async () => undefined,
			},
		});
		const res = await app.handle(new Request("http://localhost/ready"));
		expect(res.status).toBe(503);
		const body = (await res.json()) as { status: string; error: string };
		expect(body.status).toBe("not ready");
		expect(body.error).toContain("workspace");
	});
});

describe("POST /sessions", () => {
	test("201 with the status object of the started session", async () => {
		const key = `sk-${SENTINEL}-ok`;
		suite.llm.script(key, [{ kind: "text", text: "hello" }]);
		const body = sessionBody({
			model_config: { api_key: key, api_endpoint: suite.llm.url },
		});
		const res = await suite.handle("/sessions", json(body));
		expect(res.status).toBe(201);
		const status = (await res.json()) as Record<string, unknown>;
		expect(status).toMatchObject({
			session_id: body.session_id,
			status: "running",
			ended_at: null,
			last_event_id: 1,
			provider: "openai-compatible",
			model: body.model_config.model,
		});
		expect(JSON.stringify(status)).not.toContain(key);

		// 409 for the same id, carrying the existing session so a retrying backend can treat it as accepted.
		const again = await suite.handle("/sessions", json(body));
		const conflict = await expectEnvelope(again, 409, "session_exists");
		expect(conflict.session).toMatchObject({ session_id: body.session_id });
		expect(JSON.stringify(conflict)).not.toContain(key);
	});

	const bad: [string, (b: Record<string, any>) => unknown, string][] = [
		["session_id missing", (b) => ({ ...b, session_id: undefined }), "session_id"],
		["session_id not a UUID", (b) => ({ ...b, session_id: SENTINEL }), "session_id"],
		["prompt missing", (b) => ({ ...b, prompt: undefined }), "prompt"],
		["prompt empty", (b) => ({ ...b, prompt: "" }), "prompt"],
		["prompt not a string", (b) => ({ ...b, prompt: 42 }), "prompt"],
		["model_config missing", (b) => ({ ...b, model_config: undefined }), "model_config"],
		[
			"unknown provider",
			(b) => ({
				...b,
				model_config: { ...b.model_config, provider: SENTINEL },
			}),
			"model_config.provider",
		],
		[
			"unknown tool",
			(b) => ({
				...b,
				model_config: { ...b.model_config, enabled_tools: ["read", SENTINEL] },
			}),
			"model_config.enabled_tools.1",
		],
		["api_key empty", (b) => ({ ...b, model_config: { ...b.model_config, api_key: "" } }), "model_config.api_key"],
		[
			"api_key not a string",
			(b) => ({ ...b, model_config: { ...b.model_config, api_key: 12345 } }),
			"model_config.api_key",
		],
		[
			"temperature out of range",
			(b) => ({ ...b, model_config: { ...b.model_config, temperature: 7 } }),
			"model_config.temperature",
		],
		[
			"max_tokens zero",
			(b) => ({ ...b, model_config: { ...b.model_config, max_tokens: 0 } }),
			"model_config.max_tokens",
		],
		[
			"max_tokens fractional",
			(b) => ({ ...b, model_config: { ...b.model_config, max_tokens: 1.5 } }),
			"model_config.max_tokens",
		],
		[
			"api_endpoint not a URL",
			(b) => ({
				...b,
				model_config: { ...b.model_config, api_endpoint: `ftp://${SENTINEL}` },
			}),
			"model_config.api_endpoint",
		],
		[
			"openai-compatible without endpoint",
			(b) => ({
				...b,
				model_config: { ...b.model_config, api_endpoint: undefined },
			}),
			"model_config.api_endpoint",
		],
		["system_prompt not a string", (b) => ({ ...b, system_prompt: [SENTINEL] }), "system_prompt"],
	];
	for (const [name, mutate, field] of bad) {
		test(`400 naming ${field} when ${name}, without echoing input`, async () => {
			const body = mutate(sessionBody({ model_config: { api_key: `sk-${SENTINEL}` } }) as Record<string, any>);
			const res = await suite.handle("/sessions", json(body));
			const env = await expectEnvelope(res, 400, "invalid_request");
			expect(env.details).toMatchObject({ field });
			expect(String((env.details as { reason: string }).reason).length).toBeGreaterThan(3);
			expect(JSON.stringify(env)).not.toContain(SENTINEL);
		});
	}

	test("400 malformed_json for a body that is not JSON, and for no body", async () => {
		for (const body of [`{"session_id": "${SENTINEL}`, "not json", "{'a':1}"]) {
			const env = await expectEnvelope(await suite.handle("/sessions", json(body)), 400, "malformed_json");
			expect(JSON.stringify(env)).not.toContain(SENTINEL);
		}
		await expectEnvelope(await suite.handle("/sessions", { method: "POST" }), 400, "invalid_request");
		await expectEnvelope(await suite.handle("/sessions", json("[]")), 400, "invalid_request");
	});

	test("a JSON body not declared application/json is refused with 415 (curl -d without -H), nothing started", async () => {
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		const res = await suite.handle("/sessions", {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: JSON.stringify(body),
		});
		await expectEnvelope(res, 415, "unsupported_media_type");
		expect((await suite.handle(`/sessions/${body.session_id}/status`)).status).toBe(404);
	});

	test("413 for a body over MAX_BODY_BYTES, declared or streamed", async () => {
		const big = JSON.stringify(sessionBody({ prompt: "x".repeat(70_000) }));
		await expectEnvelope(await suite.handle("/sessions", json(big)), 413, "body_too_large");
		const stream = new ReadableStream({
			start(c) {
				c.enqueue(new TextEncoder().encode(big));
				c.close();
			},
		});
		await expectEnvelope(await suite.handle("/sessions", { method: "POST", body: stream }), 413, "body_too_large");
	});

	test("503 with Retry-After while the engine is not ready", async () => {
		const { EngineSupervisor } = await import("../../src/engine/supervisor");
		const { SessionManager } = await import("../../src/sessions/manager");
		const { sessionsSettings } = await import("../../src/sessions/settings");
		const { KeyRing } = await import("../../src/gateway/key-ring");
		const { SessionStore } = await import("../../src/sessions/store");
		const { parseConfig } = await import("../../src/config/parse");
		const log = createLogger("error");
		const other = makeTempDirs();
		const config = parseConfig({ WORKSPACE_DIR: other.workspace, STATE_DIR: other.state }, process.cwd());
		// A real supervisor that was never started: exactly the state between pod start and engine ready.
		const engine = new EngineSupervisor({
			release: { version: "1.18.33", generation: "1" },
			bin: config.engineBin,
			workspaceDir: config.workspaceDir,
			engineDir: `${other.state}/engine`,
			config: {},
			startTimeoutMs: 1000,
			log,
			clock: systemClock,
		});
		const sessions = new SessionManager({
			settings: sessionsSettings(config),
			keyRing: new KeyRing(),
			store: new SessionStore(other.state),
			engine,
			clock: systemClock,
			log,
		});
		sessions.init();
		const app = createApp({
			sessions,
			streams: suite.sidecar.streams,
			clock: systemClock,
			log,
			maxBodyBytes: 65536,
			sharedSecret: undefined,
			version: "test",
			readiness: {
				workspaceDir: other.workspace,
				stateDir: other.state,
				draining: () => false,
				engineProblem: async () => "x",
			},
		});
		const res = await app.handle(
			new Request("http://localhost/sessions", json(sessionBody({ model_config: { api_endpoint: suite.llm.url } }))),
		);
		await expectEnvelope(res, 503, "engine_unavailable");
		expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
		sessions.close();
		other.cleanup();
	});
});

describe("session routes", () => {
	test("404 for an unknown session on status, stream and delete", async () => {
		const id = crypto.randomUUID();
		await expectEnvelope(await suite.handle(`/sessions/${id}/status`), 404, "session_not_found");
		await expectEnvelope(await suite.handle(`/sessions/${id}/stream`), 404, "session_not_found");
		await expectEnvelope(await suite.handle(`/sessions/${id}`, { method: "DELETE" }), 404, "session_not_found");
	});

	test("400 for a session id that is not a UUID, without echoing it", async () => {
		for (const id of [SENTINEL, "..%2F..%2Fetc", "%00"]) {
			const env = await expectEnvelope(await suite.handle(`/sessions/${id}/status`), 400, "invalid_request");
			expect(JSON.stringify(env)).not.toContain(SENTINEL);
		}
	});

	test("status and cancel of a live session; cancel is idempotent", async () => {
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.llm.script(body.model_config.api_key, [{ kind: "hang" }]);
		expect((await suite.handle("/sessions", json(body))).status).toBe(201);
		const status = await suite.handle(`/sessions/${body.session_id}/status`);
		expect(status.status).toBe(200);
		expect(await status.json()).toMatchObject({
			session_id: body.session_id,
			status: "running",
		});
		const cancelled = await suite.handle(`/sessions/${body.session_id}`, {
			method: "DELETE",
		});
		expect(cancelled.status).toBe(200);
		const c = (await cancelled.json()) as Record<string, unknown>;
		expect(c).toMatchObject({
			session_id: body.session_id,
			status: "cancelled",
		});
		const again = await suite.handle(`/sessions/${body.session_id}`, {
			method: "DELETE",
		});
		expect(await again.json()).toEqual(c);
		const after = (await (await suite.handle(`/sessions/${body.session_id}/status`)).json()) as Record<string, unknown>;
		expect(after).toMatchObject({
			status: "cancelled",
			error: { code: "cancelled" },
		});
		expect(after.ended_at).toBe(c.ended_at as string);
	});

	test("the gauges read the live sidecar: running sessions, runs in progress, open streams, the engine's memory", async () => {
		const gauges = async () => {
			const text = await (await suite.handle("/metrics")).text();
			const value = (series: string) =>
				Number(
					text
						.split("\n")
						.find((l) => l.startsWith(`${series} `))
						?.split(" ")[1] ?? Number.NaN,
				);
			return {
				running: value('opencode_sidecar_sessions{status="running"}'),
				runs: value("opencode_sidecar_runs_in_progress"),
				streams: value("opencode_sidecar_sse_subscribers"),
				engineRss: value("opencode_sidecar_engine_rss_bytes"),
			};
		};
		const before = await gauges();
		expect(before.engineRss).toBeGreaterThan(0);
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.llm.script(body.model_config.api_key, [{ kind: "hang" }]);
		expect((await suite.handle("/sessions", json(body))).status).toBe(201);
		const stream = await suite.handle(`/sessions/${body.session_id}/stream`);
		expect(await gauges()).toMatchObject({
			running: before.running + 1,
			runs: before.runs + 1,
			streams: before.streams + 1,
		});
		await suite.handle(`/sessions/${body.session_id}`, { method: "DELETE" });
		await stream.text(); // the stream ends after the terminal event
		expect(await gauges()).toMatchObject({ running: before.running, runs: before.runs, streams: before.streams });
	});

	test("405 with Allow for a wrong method on a known path, 404 envelope for unknown paths", async () => {
		const put = await suite.handle("/sessions", { method: "PUT" });
		await expectEnvelope(put, 405, "method_not_allowed");
		expect(put.headers.get("allow")).toBe("GET, POST");
		const post = await suite.handle("/healthz", { method: "POST" });
		await expectEnvelope(post, 405, "method_not_allowed");
		await expectEnvelope(await suite.handle("/nope"), 404, "not_found");
	});
});

describe("documentation", () => {
	test("Swagger UI at /swagger and the OpenAPI document with an operationId per route", async () => {
		const ui = await suite.handle("/swagger");
		expect(ui.status).toBe(200);
		expect(await ui.text()).toContain("swagger");
		const doc = (await (await suite.handle("/swagger/json")).json()) as {
			paths: Record<string, Record<string, { operationId?: string }>>;
		};
		const ops = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
		for (const op of [
			"liveness",
			"livenessAlias",
			"readiness",
			"createSession",
			"getSessionStatus",
			"cancelSession",
			"streamSession",
		]) {
			expect(ops).toContain(op);
		}
	});
});

test("no log line holds an API key or the sentinel", () => {
	expect(suite.logLines.join("")).not.toContain(SENTINEL);
});

describe("the engine", () => {
	test("listens on loopback only and refuses requests without its random password", async () => {
		const c = suite.sidecar.engine.connection();
		expect(c).toBeDefined();
		const url = new URL(c?.url as string);
		expect(url.hostname).toBe("127.0.0.1");
		// The health call of the engine's generation (1.x: GET /global/health; 2.x: GET /api/info).
		const health = `${c?.url}${suite.sidecar.engine.adapter.healthCall.split(" ")[1]}`;
		expect((await fetch(health)).status).toBe(401);
		const wrong = `Basic ${Buffer.from("opencode:guess").toString("base64")}`;
		expect((await fetch(health, { headers: { authorization: wrong } })).status).toBe(401);
		expect((await fetch(health, { headers: { authorization: c?.authorization as string } })).status).toBe(200);
		// And the credential gateway is on loopback too.
		expect(new URL(suite.sidecar.gateway.url).hostname).toBe("127.0.0.1");
	});

	test("holds no API key in its environment or configuration", async () => {
		const key = `sk-env-${SENTINEL}-${crypto.randomUUID()}`;
		suite.llm.script(key, [{ kind: "hang" }]);
		const body = sessionBody({
			model_config: { api_key: key, api_endpoint: suite.llm.url },
		});
		expect((await suite.handle("/sessions", json(body))).status).toBe(201);
		await suite.llm.waitForRequest((r) => r.key === key, 30_000);
		const pid = suite.sidecar.engine.pid;
		expect(pid).toBeGreaterThan(0);
		const environ = await Bun.file(`/proc/${pid}/environ`).text();
		expect(environ).toContain("OPENCODE_CONFIG_CONTENT");
		expect(environ).not.toContain(key);
		expect(environ).not.toContain(SENTINEL);
		await suite.handle(`/sessions/${body.session_id}`, { method: "DELETE" });
	});

	test("a killed engine is restarted; /ready is 503 meanwhile, and the run in it resumes and completes", async () => {
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		// The first call hangs until the engine dies; the resumed run's call gets the scripted answer.
		suite.llm.script(body.model_config.api_key, [{ kind: "hang" }, { kind: "text", text: "resumed and finished" }]);
		expect((await suite.handle("/sessions", json(body))).status).toBe(201);
		await suite.llm.waitForRequest((r) => r.key === body.model_config.api_key, 30_000);
		const before = suite.sidecar.engine.starts;
		suite.sidecar.engine.kill("SIGKILL");
		// Not ready from the moment the process is gone until the new one answers.
		await waitUntil(() => !suite.sidecar.engine.ready);
		const during = await suite.handle("/ready");
		expect(during.status).toBe(503);
		expect(((await during.json()) as { error: string }).error).toContain("engine");
		await suite.sidecar.engine.whenReady();
		expect(suite.sidecar.engine.starts).toBe(before + 1);
		expect((await suite.handle("/ready")).status).toBe(200);
		const session = suite.sidecar.sessions.get(body.session_id);
		await waitUntil(() => session.ended, 60_000);
		const events = await session.channel.log.readAll();
		const interrupted = events.findIndex((e) => e.event === "error" && e.data.code === "interrupted");
		expect(interrupted).toBeGreaterThan(0);
		expect(events[interrupted]?.data).toMatchObject({ fatal: false });
		expect(events.slice(interrupted + 1).some((e) => e.event === "status" && e.data.status === "running")).toBe(true);
		expect(events.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: "resumed and finished" },
		});
		// Ids stayed dense across the restart.
		expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
	});
});

describe("engine memory recycling", () => {
	test("a recycled engine comes back at once and the run in it resumes to completion", async () => {
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.llm.script(body.model_config.api_key, [{ kind: "hang" }, { kind: "text", text: "after recycling" }]);
		expect((await suite.handle("/sessions", json(body))).status).toBe(201);
		await suite.llm.waitForRequest((r) => r.key === body.model_config.api_key, 30_000);
		const restarts = async () => {
			const text = await (await suite.handle("/metrics")).text();
			const line = text.split("\n").find((l) => l.startsWith("opencode_sidecar_engine_restarts_total"));
			return Number(line?.split(" ").at(-1) ?? 0);
		};
		const before = await restarts();
		suite.sidecar.engine.recycle("test: memory above the limit");
		await waitUntil(() => !suite.sidecar.engine.ready);
		await suite.sidecar.engine.whenReady();
		const session = suite.sidecar.sessions.get(body.session_id);
		await waitUntil(() => session.ended, 60_000);
		const events = await session.channel.log.readAll();
		const notice = events.find((e) => e.event === "error" && e.data.code === "interrupted");
		expect(notice?.data).toMatchObject({ fatal: false });
		expect(JSON.stringify(notice?.data)).toContain("recycled");
		expect(events.at(-1)).toMatchObject({ event: "complete", data: { final_message: "after recycling" } });
		expect(await restarts()).toBe(before + 1);
	});
});

/** Resolves once `check` holds, re-checking on each turn of the event loop (no fixed sleeps). */
async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!check()) {
		if (Date.now() > deadline) throw new Error("condition not met in time");
		await new Promise((r) => setImmediate(r));
	}
}
