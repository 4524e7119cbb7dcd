import { beforeAll, describe, expect, test } from "bun:test";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";
import { loggedLines, streamedEvents, withEngineFrozen } from "../support/in-process-runs";

// Sessions the engine gets late, with the default call timeout (a loaded engine may take seconds to answer):
// the engine's warm-up (its lazy project set-up, a throw-away prompt) runs after /ready turns 200, and a session
// created meanwhile waits for it (first: the engine is fresh and still warming); a session cancelled while the
// engine is frozen is created there late and never prompted.

const suite = useInProcess();
let warm = false;
beforeAll(() => {
	void suite.sidecar.engine.whenWarm().then(() => {
		warm = true;
	});
});

const events = (id: string) => streamedEvents(suite, id);
const frozen = <T>(run: () => Promise<T>) => withEngineFrozen(suite, run);
const logged = (msg: string, sessionId?: string) => loggedLines(suite, msg, sessionId);

describe("POST /sessions when the engine answers late", () => {
	test("the engine's warm-up does not hold /ready; a session created meanwhile is created in the engine and prompted after it", async () => {
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
		// The engine session itself is created after the warm-up, not competing with it for the CPU.
		const [created] = logged("engine session created", body.session_id);
		expect(created && warmedUp && Date.parse(created.time) >= Date.parse(warmedUp.time)).toBe(true);
	});

	test("a session cancelled before the engine has it is never prompted; the engine then serves the next session", async () => {
		const cancelled = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(cancelled.model_config.api_key);
		await frozen(async () => {
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
