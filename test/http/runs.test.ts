import { describe, expect, test } from "bun:test";
import type { EngineEvent } from "../../src/engine/events";
import { SseParser } from "../../src/sse/parse";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";
import { loggedLines, streamedEvents, withEngineFrozen } from "../support/in-process-runs";

// POST /sessions answers before the engine is involved; what the engine does
// afterwards reaches the client through the run's events.

// ENGINE_CALL_TIMEOUT 1 s: a frozen engine's calls time out quickly. Tests where the engine answers late but must
// answer are in runs-engine-late.test.ts, with the shared machine's call timeout (a loaded engine may take over 1 s).
const suite = useInProcess({ ENGINE_CALL_TIMEOUT: "1" });

const events = (id: string) => streamedEvents(suite, id);
const frozen = <T>(run: () => Promise<T>) => withEngineFrozen(suite, run);
const logged = (msg: string, sessionId?: string) => loggedLines(suite, msg, sessionId);

describe("POST /sessions", () => {
	test("answers 201 running with the first event stored while the engine is hung, then fails the run engine_unavailable", async () => {
		await suite.sidecar.engine.whenWarm();
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		const stream = await frozen(async () => {
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
