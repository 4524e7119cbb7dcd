import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";
import { subRepository } from "../support/workspace";

// Issue 13: the private snapshot repository under STATE_DIR does not grow with
// history. Once MAX_STORED_SESSIONS removed a session, a collection deletes
// its start state's objects; the kept session's diff is intact.

// No repository at the root (its files are snapshotted in the private repository), one in svc/ whose dirty
// file's content is kept as a blob when a session begins.
const it = useInProcess({ MAX_STORED_SESSIONS: "1", WORKSPACE_GC_INTERVAL: "0.001" }, {}, (dirs) =>
	subRepository(dirs.workspace, "svc", "wip.go", "package wip\n"),
);

const gitDir = () => join(it.dirs.state, "workspace-snapshots.git");
const objectExists = (id: string) =>
	Bun.spawnSync(["git", `--git-dir=${gitDir()}`, "cat-file", "-e", id]).exitCode === 0;

/** Resolves at the next log line that says the private repository was collected; its fields. */
function nextCollection(): Promise<Record<string, unknown>> {
	const lines = it.logLines;
	const push = lines.push.bind(lines);
	return new Promise((resolve) => {
		lines.push = (...added: string[]) => {
			for (const l of added)
				if (l.includes("workspace snapshot repository collected")) {
					lines.push = push;
					resolve(JSON.parse(l));
				}
			return push(...added);
		};
	});
}

/** A session whose one run edits both files (each dirty before it with text naming `n`); its id once ended. */
async function run(n: number): Promise<string> {
	writeFileSync(join(it.dirs.workspace, "svc/wip.go"), `package wip\n\nvar draft = ${n}\n`);
	writeFileSync(join(it.dirs.workspace, "notes.txt"), `notes ${n}\n`);
	const key = `sk-gc-${crypto.randomUUID()}`;
	it.keys.push(key);
	it.llm.script(key, [
		{
			kind: "tool",
			calls: [
				{
					name: "bash",
					args: {
						command: `sed -i 's/draft = ${n}/draft = x/' svc/wip.go && echo more >> notes.txt`,
						description: "edit",
					},
				},
			],
		},
		{ kind: "text", text: "Done." },
	]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: it.llm.url, enabled_tools: ["bash"] } });
	expect((await it.post(body)).status).toBe(201);
	expect(await (await it.handle(`/sessions/${body.session_id}/stream`)).text()).toContain("event: complete");
	return body.session_id;
}

async function diffOf(id: string): Promise<Record<string, string>> {
	const { files } = (await (await it.handle(`/sessions/${id}/diff`)).json()) as {
		files: { path: string; diff: string }[];
	};
	return Object.fromEntries(files.map((f) => [f.path, f.diff]));
}

test("a removed session's start state leaves the private repository; the kept session's diff keeps its patch", async () => {
	const first = await run(1);
	const start = JSON.parse(readFileSync(join(it.dirs.state, "sessions", first, "workspace-start.json"), "utf8")) as {
		plainTree: string;
		content: [string, string][];
	};
	const blob = new Map(start.content).get("svc/wip.go") ?? "";
	expect(objectExists(blob)).toBe(true);
	expect(objectExists(start.plainTree)).toBe(true);
	expect((await diffOf(first))["svc/wip.go"]).toContain("-var draft = 1\n+var draft = x\n");

	const collected = nextCollection();
	const second = await run(2); // ends: the first is removed (MAX_STORED_SESSIONS=1), then a collection
	const stats = await collected;
	expect((await it.handle(`/sessions/${first}/status`)).status).toBe(404);
	expect(objectExists(blob)).toBe(false);
	expect(objectExists(start.plainTree)).toBe(false);
	expect(Number(stats.objects_after)).toBeLessThan(Number(stats.objects_before));
	const kept = await diffOf(second);
	expect(kept["svc/wip.go"]).toContain("-var draft = 2\n+var draft = x\n");
	expect(kept["notes.txt"]).toContain(" notes 2\n+more\n");
});
