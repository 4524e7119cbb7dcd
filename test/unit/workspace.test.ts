import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unifiedDiff } from "../../src/workspace/diff";
import { PrivateGit } from "../../src/workspace/private-git";
import {
	contentBefore as before_,
	captureState as capture,
	SKIPPED_DIRS,
	changesSince as since,
} from "../../src/workspace/snapshot";
import { mergeChanges, WorkspaceTracker } from "../../src/workspace/tracker";
import { textHeld } from "../support/text-held";

const roots: string[] = [];
const gits = new Map<string, PrivateGit>();
/** Each root's private snapshot repository, in a state directory of its own. */
const privateGit = (root: string): PrivateGit => {
	let g = gits.get(root);
	if (!g) {
		const state = mkdtempSync(join(tmpdir(), "sidecar-ws-state-"));
		roots.push(state);
		g = new PrivateGit(join(state, "snapshots.git"), root, SKIPPED_DIRS);
		gits.set(root, g);
	}
	return g;
};
const captureState = (root: string) => capture(root, privateGit(root));
const changesSince = (root: string, b: Awaited<ReturnType<typeof capture>>) => since(root, b, privateGit(root));
const contentBefore = (root: string, b: Awaited<ReturnType<typeof capture>>, path: string) =>
	before_(root, b, path, privateGit(root));
afterEach(() => {
	for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
	const root = mkdtempSync(join(tmpdir(), "sidecar-ws-unit-"));
	roots.push(root);
	for (const [path, text] of Object.entries(files)) {
		mkdirSync(join(root, path, ".."), { recursive: true });
		writeFileSync(join(root, path), text);
	}
	return root;
}

const git = (cwd: string, ...args: string[]) =>
	Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd });

function repo(dir: string): void {
	git(dir, "init", "-q");
	git(dir, "add", "-A");
	git(dir, "commit", "-q", "-m", "init");
}

describe("the workspace tracker", () => {
	test("no repository: added, changed and deleted files; skipped directories stay out", async () => {
		const root = tree({ "a.txt": "a\n", "b.txt": "b\n", "node_modules/x/i.js": "1", "keep.txt": "k" });
		const before = await captureState(root);
		writeFileSync(join(root, "a.txt"), "a2\n");
		unlinkSync(join(root, "b.txt"));
		writeFileSync(join(root, "new/c.txt".replace("new/", "")), "c");
		writeFileSync(join(root, "node_modules/x/i.js"), "2");
		expect(await changesSince(root, before)).toEqual({ added: ["c.txt"], modified: ["a.txt"], deleted: ["b.txt"] });
		expect(await contentBefore(root, before, "a.txt")).toBe("a\n");
		expect(await contentBefore(root, before, "b.txt")).toBe("b\n");
	});

	test("repositories in subdirectories: ignore rules, untracked files, deletions, commits made during the run", async () => {
		const root = tree({
			"svc/.gitignore": "build/\n",
			"svc/main.go": "package main\n",
			"svc/old.go": "package old\n",
			"svc/dirty.go": "v1\n",
			"notes.md": "n\n",
		});
		repo(join(root, "svc"));
		writeFileSync(join(root, "svc/dirty.go"), "v2\n"); // dirty before the run: not the run's change
		const before = await captureState(root);
		writeFileSync(join(root, "svc/main.go"), "package main\n\nfunc x() {}\n");
		writeFileSync(join(root, "notes.md"), "n2\n"); // outside the repository
		unlinkSync(join(root, "svc/old.go"));
		mkdirSync(join(root, "svc/build"));
		writeFileSync(join(root, "svc/build/out.bin"), "ignored");
		writeFileSync(join(root, "svc/new.go"), "package new\n");
		git(join(root, "svc"), "add", "new.go");
		git(join(root, "svc"), "commit", "-q", "-m", "during the run", "--", "new.go");
		expect(await changesSince(root, before)).toEqual({
			added: ["svc/new.go"],
			modified: ["notes.md", "svc/main.go"],
			deleted: ["svc/old.go"],
		});
		// Before-content: the start commit's for a clean file, the kept copy for a dirty one.
		expect(await contentBefore(root, before, "svc/main.go")).toBe("package main\n");
		expect(await contentBefore(root, before, "svc/dirty.go")).toBe("v2\n");
		expect(await contentBefore(root, before, "notes.md")).toBe("n\n");
		writeFileSync(join(root, "svc/dirty.go"), "v3\n");
		expect((await changesSince(root, before)).modified).toEqual(["notes.md", "svc/dirty.go", "svc/main.go"]);
	});

	test("the workspace root as the repository", async () => {
		const root = tree({ "src/a.ts": "export {};\n", ".gitignore": "dist/\n" });
		repo(root);
		const before = await captureState(root);
		mkdirSync(join(root, "dist"));
		writeFileSync(join(root, "dist/a.js"), "x");
		writeFileSync(join(root, "src/b.ts"), "export const b = 1;\n");
		expect(await changesSince(root, before)).toEqual({ added: ["src/b.ts"], modified: [], deleted: [] });
	});

	test("unified diffs from the content before", async () => {
		const root = tree({ "a.txt": "one\ntwo\nthree\n", "n.txt": "hello\n" });
		const changed = await unifiedDiff(root, "a.txt", "modified", "one\n2\nthree\n");
		expect(changed).toMatchObject({ additions: 1, deletions: 1 });
		expect(changed.diff).toContain("--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-2\n+two\n three\n");
		const added = await unifiedDiff(root, "n.txt", "added", "");
		expect(added.diff).toBe("--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,1 @@\n+hello\n");
		const deleted = await unifiedDiff(root, "gone.txt", "deleted", "x\ny\n");
		expect(deleted).toMatchObject({ deletions: 2, diff: "--- a/gone.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n" });
		expect(await unifiedDiff(root, "a.txt", "modified", undefined)).toMatchObject({ diff: "", additions: 0 });
	});

	test("runs fold into the session's changes", () => {
		let all = mergeChanges({}, { added: ["a", "b"], modified: ["m"], deleted: ["d"] });
		all = mergeChanges(all, { added: ["d"], modified: ["a"], deleted: ["b", "m"] });
		expect(all).toEqual({ a: "added", d: "modified", m: "deleted" });
	});

	test("a session's start state holds no file content: dirty files' text is kept in the private repository", async () => {
		// 100 dirty files of ~58 KB (under MAX_CONTENT_BYTES each): ~5.8 MB of text kept for the diff.
		const lines = () => Array.from({ length: 900 }, () => randomBytes(32).toString("hex")).join("\n");
		const files: Record<string, string> = {};
		for (let i = 0; i < 100; i++) files[`src/f${i}.txt`] = "committed\n";
		const root = tree(files);
		repo(root);
		const dirty = new Map<string, string>();
		for (let i = 0; i < 100; i++) {
			const body = `${lines()}\n`;
			writeFileSync(join(root, `src/f${i}.txt`), body);
			if (i === 7) dirty.set("src/f7.txt", body);
		}
		// What a stored session keeps of its start: no string in it as long as one file's text.
		expect(textHeld(await captureState(root))).toBeLessThan(20_000);
		const state = mkdtempSync(join(tmpdir(), "sidecar-ws-state-"));
		roots.push(state);
		const startFile = (key: string) => join(state, `${key}.start.json`);
		const tracker = new WorkspaceTracker(root, state, { startFile });
		await tracker.begin("s1");
		// The diff still starts from the content the file had when the run began.
		writeFileSync(join(root, "src/f7.txt"), "rewritten\n");
		expect(await tracker.end("s1")).toEqual({ added: [], modified: ["src/f7.txt"], deleted: [] });
		// The run ended: the tracker holds nothing of it in memory; the start state is on disk.
		const held = Object.values(tracker).filter((v) => v instanceof Map);
		expect(held.map((m: Map<unknown, unknown>) => m.size)).toEqual([0]);
		const [change] = await tracker.describe("s1", { "src/f7.txt": "modified" });
		const old = dirty.get("src/f7.txt") ?? "";
		expect(change).toMatchObject({ path: "src/f7.txt", status: "modified", additions: 1, deletions: 900 });
		expect(change?.diff).toContain(`-${old.split("\n")[0]}\n`);
		expect(change?.diff).toContain(`-${old.split("\n")[899]}\n+rewritten\n`);
		// On disk, 0600, without any file's text (ids and identities only).
		const stored = readFileSync(startFile("s1"), "utf8");
		expect(statSync(startFile("s1")).mode & 0o777).toBe(0o600);
		expect(stored.length).toBeLessThan(20_000);
		for (const body of dirty.values()) expect(stored).not.toContain(body.split("\n")[0] as string);
		// A new process (a restart) gives the same diff; a later run does not replace the first run's start.
		const restarted = new WorkspaceTracker(root, state, { startFile });
		await restarted.begin("s1");
		expect(await restarted.end("s1")).toEqual({ added: [], modified: [], deleted: [] });
		expect(await restarted.describe("s1", { "src/f7.txt": "modified" })).toEqual([change as never]);
		// Forgetting the session removes its start state.
		restarted.forget("s1");
		expect(existsSync(startFile("s1"))).toBe(false);
	});

	test("the private repository stores files as blobs; one that cannot be stored has none", async () => {
		const root = tree({ "a.txt": "a\n", "b.txt": "b\xe9\r\n", '"q.txt': "q\n" });
		const g = privateGit(root);
		const ids = await g.store(["a.txt", "gone.txt", "b.txt", '"q.txt']);
		expect(ids[1]).toBeUndefined();
		expect(ids[3]).toBeUndefined();
		expect(await g.blob(ids[0] ?? "")).toBe("a\n");
		expect(await g.blob(ids[2] ?? "")).toBe("b\xe9\r\n");
	});
});
