import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";
import { textHeld } from "../support/text-held";
import { subRepository } from "../support/workspace";

// Issue 13: an ended session stays stored (up to MAX_STORED_SESSIONS) and holds
// no text of its runs: not its answers' text (its translator goes at the run's
// end, and its log keeps only whether the newest event ended a run, not that
// `complete` with its final message), not the content of files that were dirty
// when it began (kept for its diff as blobs in the private repository under
// STATE_DIR). Its diff and a follow-up's are unchanged. Everything reachable
// from the Session object is counted.

const it = useInProcess({}, {}, (dirs) => {
	// A repository in a subdirectory (the engine keeps diffs of a workspace that is one itself; here the tracker does).
	const repo = subRepository(dirs.workspace, "svc", "wip.go", "package wip\n");
	// Dirty when the session starts: its diff starts from this, not from the commit.
	writeFileSync(join(repo, "wip.go"), "package wip\n\nvar draft = 1\n");
});

const bash = (command: string) => ({
	kind: "tool" as const,
	calls: [{ name: "bash", args: { command, description: "edit" } }],
});

/** The session's stream from after `lastId` up to the end of the run (the stream closes at its terminal event). */
async function untilEnd(id: string, lastId: number): Promise<string> {
	const res = await it.handle(`/sessions/${id}/stream`, { headers: { "last-event-id": String(lastId) } });
	const text = await res.text();
	expect(text).toContain("event: complete");
	return text;
}

async function diffOf(id: string): Promise<{ path: string; status: string; diff: string }[]> {
	return ((await (await it.handle(`/sessions/${id}/diff`)).json()) as { files: never[] }).files;
}

test("an ended session holds no text of its answers or of the files it began with; its diffs are unchanged", async () => {
	const answer = "All of it is done. ".repeat(5000); // ~95 KB
	const key = `sk-stored-${crypto.randomUUID()}`;
	it.keys.push(key);
	it.llm.script(key, [
		bash("sed -i 's/draft = 1/draft = 2/' svc/wip.go"),
		{ kind: "text", text: answer, chunks: 20 },
		bash("echo '// two' >> svc/wip.go"),
		{ kind: "text", text: "Second." },
	]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: it.llm.url } });
	const res = await it.handle("/sessions", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
	});
	expect(res.status).toBe(201);
	const first = await untilEnd(body.session_id, 0);
	const session = it.sidecar.sessions.get(body.session_id);
	expect(first).toContain(`"final_message":${JSON.stringify(answer).slice(0, 40)}`);
	expect(textHeld(session)).toBeLessThan(2000);
	const [wip] = await diffOf(body.session_id);
	expect(wip).toMatchObject({ path: "svc/wip.go", status: "modified" });
	expect(wip?.diff).toContain(" package wip\n \n-var draft = 1\n+var draft = 2\n");

	const lastId = Number((await (await it.handle(`/sessions/${body.session_id}/status`)).json()).last_event_id);
	const follow = await it.handle(`/sessions/${body.session_id}/messages`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ prompt: "One more line." }),
	});
	expect(follow.status).toBe(202);
	const second = await untilEnd(body.session_id, lastId);
	expect(second).toContain('"final_message":"Second."');
	expect(textHeld(session)).toBeLessThan(2000);
	// From before the session's first run, over both runs.
	const [both] = await diffOf(body.session_id);
	expect(both?.diff).toContain(" package wip\n \n-var draft = 1\n+var draft = 2\n+// two\n");
});
