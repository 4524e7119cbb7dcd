import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PrivateGit } from "../../src/workspace/private-git";
import { loadState } from "../../src/workspace/start-state";
import { type Collected, WorkspaceTracker } from "../../src/workspace/tracker";

// The private snapshot repository keeps what stored sessions and running runs
// need, and a collection deletes the rest: its size does not grow with the
// number of runs (issue 13).

const dirs: string[] = [];
afterEach(() => {
	for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const temp = (prefix: string) => {
	const d = mkdtempSync(join(tmpdir(), prefix));
	dirs.push(d);
	return d;
};

const git = (cwd: string, ...args: string[]) => {
	const r = Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd });
	return { ok: r.exitCode === 0, out: r.stdout.toString() };
};

/**
 * A workspace that is no repository's root (its files are snapshotted in the private repository) with a
 * repository in `sub/` whose dirty file's content is stored as a blob at each session's first run.
 */
function workspace(): string {
	const root = temp("sidecar-collect-ws-");
	mkdirSync(join(root, "docs"));
	mkdirSync(join(root, "sub"));
	writeFileSync(join(root, "a.txt"), "a\n");
	writeFileSync(join(root, "docs/b.txt"), "b\n");
	writeFileSync(join(root, "sub/c.txt"), "c\n");
	git(join(root, "sub"), "init", "-q");
	git(join(root, "sub"), "add", "-A");
	git(join(root, "sub"), "commit", "-q", "-m", "init");
	return root;
}

interface Harness {
	readonly root: string;
	readonly gitDir: string;
	readonly tracker: WorkspaceTracker;
	readonly stored: Set<string>;
	readonly collected: Collected[];
	readonly errors: unknown[];
	clock: number;
	/** One session's one run: the workspace changed during it with text that names `key`. */
	session(key: string): Promise<void>;
	objectExists(id: string): boolean;
}

function harness(collectIntervalMs = 0): Harness {
	const root = workspace();
	const state = temp("sidecar-collect-state-");
	const stored = new Set<string>();
	const collected: Collected[] = [];
	const errors: unknown[] = [];
	const h: Harness = {
		root,
		gitDir: join(state, "workspace-snapshots.git"),
		stored,
		collected,
		errors,
		clock: 0,
		tracker: new WorkspaceTracker(root, state, {
			startFile: (key) => join(state, `${key}.start.json`),
			onError: (error) => errors.push(error),
			collectIntervalMs,
			now: () => h.clock,
			stored: () => stored,
			onCollected: (c) => collected.push(c),
		}),
		async session(key) {
			// Before the session's first run: changes of the previous one, and a dirty file in `sub/`.
			writeFileSync(join(root, "sub/c.txt"), `c before ${key}\n`);
			writeFileSync(join(root, "docs/b.txt"), `b before ${key}\n`);
			stored.add(key);
			await h.tracker.begin(key);
			writeFileSync(join(root, "a.txt"), `a by ${key}\n`);
			writeFileSync(join(root, `docs/${key}.txt`), `new ${key}\n`);
			rmSync(join(root, "docs/b.txt"));
			writeFileSync(join(root, "sub/c.txt"), `c by ${key}\n`);
			await h.tracker.end(key);
			rmSync(join(root, `docs/${key}.txt`));
		},
		objectExists: (id) => Bun.spawnSync(["git", `--git-dir=${h.gitDir}`, "cat-file", "-e", id]).exitCode === 0,
	};
	return h;
}

const CHANGES = { "a.txt": "modified", "docs/b.txt": "deleted", "sub/c.txt": "modified" } as const;

describe("collecting the private snapshot repository", () => {
	test("keeps what stored sessions and running runs need, and its size does not grow with the runs", async () => {
		const h = harness();
		const forget = (keep: number) => {
			for (const key of [...h.stored].slice(0, -keep)) {
				h.tracker.forget(key);
				h.stored.delete(key);
			}
		};
		for (let i = 0; i < 12; i++) await h.session(`s${i}`);
		const pruned = await loadState(join(h.gitDir, "..", "s0.start.json"));
		forget(3);
		await h.tracker.collect();
		const first = h.collected.at(-1);
		for (let i = 12; i < 40; i++) await h.session(`s${i}`);
		forget(3);
		// A run under way, and the kept sessions' diffs, before the collection.
		writeFileSync(join(h.root, "a.txt"), "a before the live run\n");
		await h.tracker.begin("live");
		const kept = [...h.stored];
		const diffs = await Promise.all(kept.map((key) => h.tracker.describe(key, CHANGES)));
		for (const d of diffs) expect(d.every((c) => c.diff.includes("@@"))).toBe(true);
		await h.tracker.collect();
		const second = h.collected.at(-1);

		expect(h.errors).toEqual([]);
		if (!first || !second) throw new Error("no collection reported");
		// 28 more runs in between, and the repository holds as many objects as after the first collection
		// (as many stored sessions of the same shape), give or take the live run's state (a few objects).
		expect(second.before.objects).toBeGreaterThan(first.after.objects + 28 * 3);
		expect(second.after.objects).toBeLessThanOrEqual(first.after.objects + 4);
		expect(second.after.bytes).toBeLessThan(second.before.bytes);
		// Packed: a loose object takes a file system block (4 KiB) at least.
		expect(second.after.bytes).toBeLessThan(second.after.objects * 1024);
		// A removed session's start state is gone; the kept sessions' diffs are byte-identical.
		expect(pruned?.plainTree).toBeDefined();
		expect(h.objectExists(pruned?.plainTree ?? "")).toBe(false);
		for (const id of pruned?.content.values() ?? []) expect(h.objectExists(id)).toBe(false);
		expect(await Promise.all(kept.map((key) => h.tracker.describe(key, CHANGES)))).toEqual(diffs);
		// The run begun before the collection ends with its own changes.
		writeFileSync(join(h.root, "a.txt"), "a by the live run\n");
		writeFileSync(join(h.root, "docs/live.txt"), "new\n");
		expect(await h.tracker.end("live")).toEqual({ added: ["docs/live.txt"], modified: ["a.txt"], deleted: [] });
		// Its run state is then released: only sessions' start states (its own too: its first run) are kept by refs.
		const refs = git(h.gitDir, "for-each-ref", "--format=%(refname)", "refs/sidecar/").out.trim().split("\n");
		const hex = (key: string) => Buffer.from(key).toString("hex");
		expect(refs.sort()).toEqual([...kept, "live"].map((key) => `refs/sidecar/start/${hex(key)}`).sort());
		expect(h.errors).toEqual([]);
	});

	test("a session stored by an earlier version (a start file, no ref) keeps its start state through a collection", async () => {
		const h = harness();
		await h.session("old");
		await h.session("new");
		const [diff] = await h.tracker.describe("old", { "sub/c.txt": "modified" });
		expect(diff?.diff).toContain("-c before old\n");
		// An earlier version kept no ref.
		const refs = git(h.gitDir, "for-each-ref", "--format=%(refname)", "refs/sidecar/").out.split("\n");
		const oldRef = refs.find((r) => r.endsWith(Buffer.from("old").toString("hex")));
		expect(oldRef).toBeDefined();
		expect(git(h.gitDir, "update-ref", "-d", oldRef ?? "").ok).toBe(true);
		await h.tracker.collect();
		expect(await h.tracker.describe("old", { "sub/c.txt": "modified" })).toEqual([diff as never]);
		expect(h.errors).toEqual([]);
	});

	test("after sessions were removed, a collection runs at most once per interval of the injected clock", async () => {
		const h = harness(60_000);
		await h.session("s1");
		await h.tracker.sessionsRemoved();
		expect(h.collected.length).toBe(1);
		h.clock = 59_999;
		await h.tracker.sessionsRemoved();
		expect(h.collected.length).toBe(1);
		h.clock = 60_000;
		await h.tracker.sessionsRemoved();
		expect(h.collected.length).toBe(2);
		// 0: never.
		const never = harness(0);
		await never.session("s1");
		await never.tracker.sessionsRemoved();
		expect(never.collected.length).toBe(0);
	});

	test("a collection asked for during a begin waits for its state to be kept", async () => {
		const h = harness();
		await h.session("s1");
		writeFileSync(join(h.root, "sub/c.txt"), "c before s2\n");
		h.stored.add("s2");
		// A collection asked for between the capture of s2's state (its blob stored) and the ref that keeps it.
		const git_ = Reflect.get(h.tracker, "plainGit") as PrivateGit;
		const keep = git_.keep.bind(git_);
		let collected: Promise<void> | undefined;
		git_.keep = async (names, ids) => {
			collected ??= h.tracker.collect();
			// Had it started (rather than waiting for this begin), it would be done before the ref is made.
			if (Reflect.get(h.tracker, "collecting") === collected) await collected;
			return keep(names, ids);
		};
		await h.tracker.begin("s2");
		await collected;
		expect(h.collected.length).toBe(1);
		writeFileSync(join(h.root, "a.txt"), "a by s2\n");
		writeFileSync(join(h.root, "sub/c.txt"), "c by s2\n");
		expect(await h.tracker.end("s2")).toEqual({ added: [], modified: ["a.txt", "sub/c.txt"], deleted: [] });
		const [diff] = await h.tracker.describe("s2", { "sub/c.txt": "modified" });
		expect(diff?.diff).toContain("-c before s2\n");
		expect(h.errors).toEqual([]);
	});
});
