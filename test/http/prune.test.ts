import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { sessionBody } from "../support/api";
import { type InProcess, startInProcess } from "../support/in-process";
import { type ScriptedLlm, startScriptedLlm } from "../support/scripted-llm";
import { makeTempDirs, type TempDirs } from "../support/workspace";

// MAX_STORED_SESSIONS bounds what the pod keeps: the sidecar's record and log
// of a removed session, and the engine's copy of its conversation.

let llm: ScriptedLlm;
let dirs: TempDirs;
let it: InProcess;

beforeAll(async () => {
	llm = await startScriptedLlm();
	dirs = makeTempDirs();
	it = await startInProcess({ WORKSPACE_DIR: dirs.workspace, STATE_DIR: dirs.state, MAX_STORED_SESSIONS: "1" });
});

afterAll(async () => {
	await it?.sidecar.stop();
	await llm?.close();
	dirs?.cleanup();
});

/** Runs a session to its end (its stream closes after the terminal event); returns its engine session id. */
async function run(): Promise<{ id: string; engineId: string }> {
	const key = `sk-prune-${crypto.randomUUID()}`;
	llm.script(key, [{ kind: "text", text: "Done." }]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: llm.url, enabled_tools: [] } });
	const res = await it.handle("/sessions", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
	});
	expect(res.status).toBe(201);
	const stream = await it.handle(`/sessions/${body.session_id}/stream`);
	expect(await stream.text()).toContain("event: complete");
	const engineId = it.sidecar.sessions.get(body.session_id).record.engine_session_id;
	if (!engineId) throw new Error("no engine session");
	return { id: body.session_id, engineId };
}

async function engineHas(engineId: string): Promise<boolean> {
	const engine = it.sidecar.engine.connection();
	if (!engine) throw new Error("engine not listening");
	const res = await fetch(`${engine.url}/session/${engineId}?directory=${encodeURIComponent(dirs.workspace)}`, {
		headers: { authorization: engine.authorization },
	});
	await res.arrayBuffer();
	return res.ok;
}

test("a session removed by MAX_STORED_SESSIONS is deleted from the engine too; the kept one stays", async () => {
	const first = await run();
	expect(await engineHas(first.engineId)).toBe(true);
	const deleted = new Promise<void>((resolve) => {
		const stop = it.sidecar.engine.onEvents((batch) => {
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
	expect(existsSync(join(dirs.state, "sessions", first.id))).toBe(false);
	await deleted;
	expect(await engineHas(first.engineId)).toBe(false);
	expect(await engineHas(second.engineId)).toBe(true);
	expect((await it.handle(`/sessions/${first.id}/status`)).status).toBe(404);
});
