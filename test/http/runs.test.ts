import { beforeAll, describe, expect, test } from "bun:test";
import type { EngineEvent } from "../../src/engine/events";
import { SseParser } from "../../src/sse/parse";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";

// POST /sessions answers before the engine is involved; what the engine does
// afterwards reaches the client through the run's events.

const suite = useInProcess({ ENGINE_CALL_TIMEOUT: "1" });
let warm = false;
beforeAll(() => {
	void suite.sidecar.engine.whenWarm().then(() => {
		warm = true;
	});
});

/** Every event of the session's stream until the server ends it (after the terminal event). */
async function events(id: string): Promise<{ id: number; event: string; data: Record<string, unknown> }[]> {
	const res = await suite.handle(`/sessions/${id}/stream`);
	expect(res.status).toBe(200);
	const parser = new SseParser();
	const out: { id: number; event: string; data: Record<string, unknown> }[] = [];
	const decoder = new TextDecoder();
	for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
		for (const e of parser.push(decoder.decode(chunk, { stream: true }))) {
			if (e.event !== "heartbeat") out.push({ id: Number(e.id), event: e.event, data: JSON.parse(e.data) });
		}
	}
	return out;
}

/** Stops the engine process as a hung engine would be, for the duration of `run`. */
async function withEngineFrozen<T>(run: () => Promise<T>): Promise<T> {
	const pid = suite.sidecar.engine.pid;
	if (pid === undefined) throw new Error("no engine process");
	process.kill(pid, "SIGSTOP");
	try {
		return await run();
	} finally {
		process.kill(pid, "SIGCONT");
	}
}

const logged = (msg: string, sessionId?: string) =>
	suite.logLines
		.map((l) => JSON.parse(l) as Record<string, unknown> & { time: string })
		.filter((l) => l.msg === msg && (sessionId === undefined || l.session_id === sessionId));

describe("POST /sessions", () => {
	test("the engine's warm-up does not hold /ready; a session created meanwhile is prompted after it", async () => {
		// startInProcess returned at "engine ready"; the warm-up prompt (seconds) is still running.
		expect(warm).toBe(false);
		const ready = await suite.handle("/ready");
		expect(ready.status).toBe(200);
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [{ kind: "text", text: "Warm enough." }]);
		expect((await suite.post(body)).status).toBe(201);
		const run = await events(body.session_id);
		expect(run.at(-1)).toMatchObject({ event: "complete", data: { final_message: "Warm enough." } });
		const [warmedUp] = logged("engine warmed up");
		const request = suite.llm.requests.find((r) => r.key === body.model_config.api_key);
		expect(warmedUp && request && request.at >= Date.parse(warmedUp.time)).toBe(true);
	});

	test("answers 201 running with the first event stored while the engine is hung, then fails the run engine_unavailable", async () => {
		await suite.sidecar.engine.whenWarm();
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		const stream = await withEngineFrozen(async () => {
			const res = await suite.post(body);
			expect(res.status).toBe(201);
			const status = (await res.json()) as Record<string, unknown>;
			expect(status).toMatchObject({ session_id: body.session_id, status: "running", last_event_id: 1 });
			expect(typeof status.started_at).toBe("string");
			// ENGINE_CALL_TIMEOUT (1 s) passes while the engine is stopped.
			return events(body.session_id);
		});
		expect(stream.map((e) => [e.id, e.event, e.data.status ?? e.data.code])).toEqual([
			[1, "status", "running"],
			[2, "status", "failed"],
			[3, "error", "engine_unavailable"],
		]);
		expect(stream[2]?.data.fatal).toBe(true);
		const status = (await (await suite.handle(`/sessions/${body.session_id}/status`)).json()) as Record<
			string,
			unknown
		>;
		expect(status).toMatchObject({ status: "failed", error: { code: "engine_unavailable" }, last_event_id: 3 });
		expect(suite.llm.requests.filter((r) => r.key === body.model_config.api_key)).toEqual([]);
	});

	test("a session cancelled before the engine has it is never prompted; the engine then serves the next session", async () => {
		const cancelled = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(cancelled.model_config.api_key);
		await withEngineFrozen(async () => {
			expect((await suite.post(cancelled)).status).toBe(201);
			const res = await suite.handle(`/sessions/${cancelled.session_id}`, { method: "DELETE" });
			expect(res.status).toBe(200);
			expect(await res.json()).toMatchObject({ status: "cancelled" });
		});

		// The engine, running again, creates the cancelled session's engine session late; the next session runs in full.
		const next = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(next.model_config.api_key);
		suite.llm.script(next.model_config.api_key, [{ kind: "text", text: "All done." }]);
		expect((await suite.post(next)).status).toBe(201);
		const run = await events(next.session_id);
		expect(run.at(-1)).toMatchObject({ event: "complete", data: { final_message: "All done." } });

		expect(logged("engine session created", cancelled.session_id)).toHaveLength(1);
		expect(suite.llm.requests.filter((r) => r.key === cancelled.model_config.api_key)).toEqual([]);
		const stream = await suite.handle(`/sessions/${cancelled.session_id}/stream`, {
			headers: { "last-event-id": "3" },
		});
		expect(stream.status).toBe(204);
	});
});

describe("live output", () => {
	test("a burst of token deltas is stored and sent as fewer output events holding the same text, in order", async () => {
		await suite.sidecar.engine.whenWarm();
		const words = Array.from({ length: 400 }, (_, i) => `w${String(i).padStart(3, "0")} `);
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [{ kind: "text", text: words.join(""), chunks: words.length }]);
		expect((await suite.post(body)).status).toBe(201);
		const run = await events(body.session_id);
		const outputs = run.filter((e) => e.event === "output" && e.data.source === "assistant");
		expect(outputs.map((e) => e.data.text).join("")).toBe(words.join(""));
		// The engine sends deltas in bursts; each burst became one event.
		expect(outputs.length).toBeLessThan(words.length / 2);
		expect(run.map((e) => e.id)).toEqual(run.map((_, i) => i + 1));
		expect(run.at(-1)).toMatchObject({ event: "complete", data: { final_message: words.join("") } });
		// What was stored is what was sent.
		const replay = await suite.handle(`/sessions/${body.session_id}/stream`, { headers: { "last-event-id": "0" } });
		const text = await replay.text();
		expect(new SseParser().push(text).filter((e) => e.event !== "heartbeat").length).toBe(run.length);
	});
});

describe("engine events", () => {
	test("an event that cannot be handled is logged and the rest of its burst is still handled", () => {
		const before = logged("engine event not handled").length;
		const broken = { type: "message.updated", properties: null } as unknown as EngineEvent;
		const alsoBroken = { type: "session.status", properties: null } as unknown as EngineEvent;
		expect(() => suite.sidecar.sessions.onEngineEvents([broken, alsoBroken])).not.toThrow();
		expect(
			logged("engine event not handled")
				.slice(before)
				.map((l) => l.event_type),
		).toEqual(["message.updated", "session.status"]);
	});
});

describe("the engine going away while a run starts", () => {
	test("a session whose engine dies before taking its first prompt starts with that prompt when the engine is back", async () => {
		await suite.sidecar.engine.whenWarm();
		const body = sessionBody({ prompt: "Say the resumed words.", model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [{ kind: "text", text: "Started after all." }]);
		const pid = suite.sidecar.engine.pid;
		if (pid === undefined) throw new Error("no engine process");
		process.kill(pid, "SIGSTOP");
		expect((await suite.post(body)).status).toBe(201);
		// The engine dies with the session's first calls in flight.
		process.kill(pid, "SIGKILL");
		const run = await events(body.session_id);
		expect(run.map((e) => e.event === "error" && e.data.code)).toContain("interrupted");
		expect(run.find((e) => e.event === "error")?.data.fatal).toBe(false);
		expect(run.at(-1)).toMatchObject({ event: "complete", data: { final_message: "Started after all." } });
		const request = await suite.llm.waitForRequest((r) => r.key === body.model_config.api_key);
		expect(JSON.stringify(request.body)).toContain("Say the resumed words.");
		expect(suite.sidecar.engine.pid).not.toBe(pid);
	});
});
