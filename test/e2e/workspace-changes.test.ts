import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import type { Turn } from "../support/scripted-llm";
import { readStream } from "../support/sse-client";

/**
 * files_modified and the diff in a workspace that is not itself a git
 * repository: plain files at the top, and a repository in a subdirectory
 * (a multi-repo workspace), changed by write and by bash.
 */
const e2e = useE2eSidecar({ sidecar: false });

/** Turns the (git) workspace of `makeDirs` into plain files plus a repository in `service/`. */
function multiRepoWorkspace(ws: string): void {
	rmSync(join(ws, ".git"), { recursive: true, force: true });
	writeFileSync(join(ws, "old.txt"), "old\n");
	writeFileSync(join(ws, "keep.txt"), "keep\n");
	const repo = join(ws, "service");
	mkdirSync(repo);
	const git = (...args: string[]) =>
		Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
	writeFileSync(join(repo, ".gitignore"), "build/\n");
	writeFileSync(join(repo, "main.go"), "package main\n");
	git("init", "-q");
	git("add", ".");
	git("commit", "-q", "-m", "init");
	mkdirSync(join(ws, "node_modules", "dep"), { recursive: true });
}

describe("files_modified and the diff in any workspace", () => {
	test("a workspace that is not a repository, with one in a subdirectory: every change by any tool, ignores respected", async () => {
		const dirs = e2e.makeDirs();
		const workspace = dirs.workspace;
		multiRepoWorkspace(workspace);
		const sidecar = await e2e.start({ dirs, warmUp: false });
		try {
			const turns: Turn[] = [
				{
					kind: "tool",
					calls: [{ name: "write", args: { filePath: join(workspace, "notes/hello.txt"), content: "hello\nworld\n" } }],
				},
				{
					kind: "tool",
					calls: [
						{
							name: "bash",
							args: {
								command:
									"rm old.txt && echo 'func x() {}' >> service/main.go && mkdir -p service/build node_modules/dep && echo o > service/build/out.bin && echo d > node_modules/dep/index.js",
								description: "change files",
							},
						},
					],
				},
				{ kind: "text", text: "Done." },
			];
			const key = e2e.newKey("sk-ws", turns);
			const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
			expect((await postSession(sidecar.url, body)).status).toBe(201);
			const r = await readStream(`${sidecar.url}/sessions/${body.session_id}/stream`);
			e2e.seen.push(r.events);
			const complete = r.events.at(-1);
			expect(complete?.event).toBe("complete");
			const expected = ["notes/hello.txt", "old.txt", "service/main.go"];
			expect([...(complete?.data.files_modified ?? [])].sort()).toEqual(expected);
			const status = (await (await fetch(`${sidecar.url}/sessions/${body.session_id}/status`)).json()) as {
				files_modified: string[];
			};
			expect([...status.files_modified].sort()).toEqual(expected);
			const diff = (await (await fetch(`${sidecar.url}/sessions/${body.session_id}/diff`)).json()) as {
				files: { path: string; status: string; diff: string; additions: number }[];
			};
			expect(diff.files.map((f) => [f.path, f.status])).toEqual([
				["notes/hello.txt", "added"],
				["old.txt", "deleted"],
				["service/main.go", "modified"],
			]);
			const hello = diff.files[0];
			expect(hello?.additions).toBe(2);
			expect(hello?.diff).toContain("+++ b/notes/hello.txt");
			expect(hello?.diff).toContain("+world");
			// Before-content: the repository's commit for main.go, the private snapshot for old.txt.
			expect(diff.files[2]?.diff).toContain("+func x() {}");
			expect(diff.files[1]?.diff).toContain("-old");
		} finally {
			await sidecar.stop();
		}
	});

	test("an ended session's diff is the same after a restart, patches of files dirty before its first run included", async () => {
		const dirs = e2e.makeDirs();
		const workspace = dirs.workspace;
		multiRepoWorkspace(workspace);
		// Dirty in its repository before the session's first run: its diff starts from this, not from the commit.
		writeFileSync(join(workspace, "service/main.go"), "package main\n\n// wip\n");
		const first = await e2e.start({ dirs, warmUp: false });
		let second: Awaited<ReturnType<typeof e2e.start>> | undefined;
		try {
			const key = e2e.newKey("sk-ws-restart", [
				{
					kind: "tool",
					calls: [
						{
							name: "bash",
							args: { command: "echo 'func y() {}' >> service/main.go && echo more >> keep.txt", description: "edit" },
						},
					],
				},
				{ kind: "text", text: "Done." },
			]);
			const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
			expect((await postSession(first.url, body)).status).toBe(201);
			const r = await readStream(`${first.url}/sessions/${body.session_id}/stream`);
			e2e.seen.push(r.events);
			expect(r.events.at(-1)?.event).toBe("complete");
			const diffOn = async (url: string) => {
				const res = await fetch(`${url}/sessions/${body.session_id}/diff`);
				expect(res.status).toBe(200);
				return res.text();
			};
			const before = await diffOn(first.url);
			const files = (JSON.parse(before) as { files: { path: string; diff: string }[] }).files;
			expect(files.map((f) => f.path)).toEqual(["keep.txt", "service/main.go"]);
			expect(files[0]?.diff).toContain(" keep\n+more\n");
			expect(files[1]?.diff).toContain(" // wip\n+func y() {}\n");
			await first.stop();
			second = await e2e.start({ dirs, warmUp: false });
			// The workspace before the first run was on disk beside the session, not only in the old process.
			expect(await diffOn(second.url)).toBe(before);
		} finally {
			await first.stop();
			await second?.stop();
		}
	});
});
