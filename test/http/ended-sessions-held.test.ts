import { expect, test } from "bun:test";
import { join } from "node:path";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";

// Issue 13: memory grows with running sessions, not with stored history. An
// ended session (kept up to MAX_STORED_SESSIONS) holds its record, its sealed
// log and its channel; its translator goes when its run ends (the next run
// gets a new one) and the workspace's state before its first run is on disk,
// not in the tracker. Checked with weak references after a full collection,
// on the real engine; a follow-up still builds on the runs before it.

const SESSIONS = 4;
const it = useInProcess({});

const write = (file: string, content: string) => ({
	kind: "tool" as const,
	calls: [{ name: "write", args: { filePath: join(it.dirs.workspace, file), content } }],
});

/** The stream of `id` after `lastId` up to the run's end (it closes after the terminal event). */
async function untilEnd(id: string, lastId = 0): Promise<string> {
	const res = await it.handle(`/sessions/${id}/stream`, { headers: { "last-event-id": String(lastId) } });
	const text = await res.text();
	expect(text).toContain("event: complete");
	return text;
}

interface Status {
	last_event_id: number;
	files_modified: string[];
	usage: { input_tokens: number; output_tokens: number };
}

const statusOf = async (id: string) => (await (await it.handle(`/sessions/${id}/status`)).json()) as Status;

/** Entries in the workspace tracker's maps (private to the manager; read here through its fields). */
function trackerHeld(): number {
	const manager = it.sidecar.sessions as unknown as { workspace: { deps: { tracker: object } } };
	const maps = Object.values(manager.workspace.deps.tracker).filter((v) => v instanceof Map);
	expect(maps.length).toBeGreaterThan(0);
	return maps.reduce((n, m: Map<unknown, unknown>) => n + m.size, 0);
}

test("ended sessions hold no translator and no workspace start state; a follow-up builds on them", async () => {
	const ids: string[] = [];
	const keys: string[] = [];
	const translators: WeakRef<object>[] = [];
	for (let n = 1; n <= SESSIONS; n++) {
		const key = `sk-held-${crypto.randomUUID()}`;
		it.keys.push(key);
		keys.push(key);
		it.llm.script(key, [
			write(`run${n}.txt`, `run ${n}\n`),
			{ kind: "text", text: `Run ${n} is done.` },
			write(`again${n}.txt`, "again\n"),
			{ kind: "text", text: "Follow-up done." },
		]);
		const body = sessionBody({ model_config: { api_key: key, api_endpoint: it.llm.url } });
		expect((await it.post(body)).status).toBe(201);
		// The run is live: its translator exists now.
		translators.push(new WeakRef(it.sidecar.sessions.get(body.session_id).translator));
		await untilEnd(body.session_id);
		ids.push(body.session_id);
	}
	for (const id of ids) expect(it.sidecar.sessions.get(id).ended).toBe(true);
	for (let i = 0; i < 3; i++) {
		Bun.gc(true);
		await Promise.resolve();
	}
	// JavaScriptCore scans the native stack conservatively: a stale word there can keep one alive.
	expect(translators.filter((w) => w.deref() !== undefined).length).toBeLessThanOrEqual(1);
	expect(trackerHeld()).toBe(0);

	// A follow-up of the first: files and usage go on from its first run, late events of that run stay out.
	const [first] = ids as [string];
	const before = await statusOf(first);
	expect(before.files_modified).toEqual(["run1.txt"]);
	expect(before.usage.input_tokens).toBeGreaterThan(0);
	const follow = await it.handle(`/sessions/${first}/messages`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ prompt: "One more file." }),
	});
	expect(follow.status).toBe(202);
	const second = await untilEnd(first, before.last_event_id);
	expect(second).toContain('"final_message":"Follow-up done."');
	expect(second).not.toContain("Run 1 is done.");
	const after = await statusOf(first);
	expect([...after.files_modified].sort()).toEqual(["again1.txt", "run1.txt"]);
	expect(after.usage.input_tokens).toBeGreaterThan(before.usage.input_tokens);
	expect(after.usage.output_tokens).toBeGreaterThan(before.usage.output_tokens);
	expect(trackerHeld()).toBe(0);
});
