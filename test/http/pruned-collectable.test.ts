import { expect, test } from "bun:test";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";

// Issue 13 (growth over many runs): once a session is removed by
// MAX_STORED_SESSIONS, nothing in the sidecar may keep its objects alive: not
// the registry, the engine-id index, the stream hub, the workspace tracker,
// the gateway, a listener or a timer. Checked with weak references after a
// full collection, so that any new per-session map, listener or closure that
// is never cleaned up fails here rather than as RSS creeping in a soak.

const RUNS = 6;
const it = useInProcess({ MAX_STORED_SESSIONS: "1" });

/** Weak references to what one session is made of. */
interface Refs {
	readonly id: string;
	readonly session: WeakRef<object>;
	readonly parts: WeakRef<object>[];
}

/** Runs a session to its end (its stream closes after the terminal event); weak references to its objects. */
async function run(n: number): Promise<Refs> {
	const key = `sk-collect-${crypto.randomUUID()}`;
	it.keys.push(key);
	it.llm.script(key, [{ kind: "text", text: `Run ${n} is done.` }]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: it.llm.url, enabled_tools: [] } });
	const res = await it.handle("/sessions", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
	});
	expect(res.status).toBe(201);
	const stream = await it.handle(`/sessions/${body.session_id}/stream`);
	expect(await stream.text()).toContain("event: complete");
	const s = it.sidecar.sessions.get(body.session_id);
	return {
		id: body.session_id,
		session: new WeakRef(s),
		parts: [new WeakRef(s.channel), new WeakRef(s.channel.log), new WeakRef(s.record)],
	};
}

test("sessions removed by MAX_STORED_SESSIONS are garbage: no map, listener or timer keeps them", async () => {
	const refs: Refs[] = [];
	for (let i = 1; i <= RUNS; i++) refs.push(await run(i));
	// Every run but the last was removed when a later one ended.
	for (const r of refs.slice(0, -1)) expect((await it.handle(`/sessions/${r.id}/status`)).status).toBe(404);
	for (let i = 0; i < 3; i++) {
		Bun.gc(true);
		await Promise.resolve();
	}
	const alive = (r: Refs) => [r.session, ...r.parts].filter((w) => w.deref() !== undefined).length;
	const removed = refs.slice(0, -1).map(alive);
	// JavaScriptCore scans the native stack conservatively: a stale word there
	// can keep one object (and what it holds) alive; a leak keeps every one.
	expect(removed.filter((n) => n > 0).length).toBeLessThanOrEqual(1);
	// The kept session is alive, as it should be (the references work).
	expect(alive(refs.at(-1) as Refs)).toBe(4);
});
