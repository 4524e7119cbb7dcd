import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";

// MAX_STORED_SESSIONS bounds what the pod keeps: the sidecar's record and log
// of a removed session, and the engine's copy of its conversation.

const suite = useInProcess({ MAX_STORED_SESSIONS: "1" });

/** Runs a session to its end (its stream closes after the terminal event); returns its engine session id. */
async function run(): Promise<{ id: string; engineId: string }> {
	const key = `sk-prune-${crypto.randomUUID()}`;
	suite.llm.script(key, [{ kind: "text", text: "Done." }]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: suite.llm.url, enabled_tools: [] } });
	const res = await suite.post(body);
	expect(res.status).toBe(201);
	const stream = await suite.handle(`/sessions/${body.session_id}/stream`);
	expect(await stream.text()).toContain("event: complete");
	const engineId = suite.sidecar.sessions.get(body.session_id).record.engine_session_id;
	if (!engineId) throw new Error("no engine session");
	return { id: body.session_id, engineId };
}

async function engineHas(engineId: string): Promise<boolean> {
	const engine = suite.sidecar.engine.connection();
	if (!engine) throw new Error("engine not listening");
	const res = await fetch(`${engine.url}/session/${engineId}?directory=${encodeURIComponent(suite.dirs.workspace)}`, {
		headers: { authorization: engine.authorization },
	});
	await res.arrayBuffer();
	return res.ok;
}

test("a session removed by MAX_STORED_SESSIONS is deleted from the engine too; the kept one stays", async () => {
	const first = await run();
	expect(await engineHas(first.engineId)).toBe(true);
	// The workspace before its first run, for its diff, is kept beside it, and goes with it.
	expect(existsSync(join(suite.dirs.state, "sessions", first.id, "workspace-start.json"))).toBe(true);
	const deleted = new Promise<void>((resolve) => {
		const stop = suite.sidecar.engine.onEvents((batch) => {
			for (const e of batch) {
				const info = (e as { type: string; properties?: { info?: { id?: string } } }).properties?.info;
				if (e.type === "session.deleted" && info?.id === first.engineId) {
					stop();
					resolve();
				}
			}
		});
	});
	const second = await run();
	expect(existsSync(join(suite.dirs.state, "sessions", first.id))).toBe(false);
	await deleted;
	expect(await engineHas(first.engineId)).toBe(false);
	expect(await engineHas(second.engineId)).toBe(true);
	expect((await suite.handle(`/sessions/${first.id}/status`)).status).toBe(404);
});
