import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GIT_TIMEOUT_MS, runGit } from "./git-run";

/**
 * A private git repository under STATE_DIR whose work tree is the workspace:
 * what the engine does for a git-root workspace, for the files outside any
 * repository. A snapshot is `git add -A` + `git write-tree` (after the first,
 * git re-reads only files whose stat data changed), two snapshots compare
 * with `git diff-tree`, and the content of a file in a snapshot is a blob:
 * no copy of the workspace is kept. Directories holding `.git` are left to
 * their own repositories (git records them as links and does not enter them);
 * `excluded` directories are never entered. Calls are serialized: they share
 * one index.
 */
export class PrivateGit {
	private queue: Promise<unknown> = Promise.resolve();
	private ready = false;

	constructor(
		private readonly gitDir: string,
		private readonly workTree: string,
		private readonly excluded: Iterable<string>,
	) {}

	private git(args: string[], stdin?: string): Promise<string> {
		const call = async () => {
			this.init();
			return runGit([`--git-dir=${this.gitDir}`, `--work-tree=${this.workTree}`, ...args], {
				cwd: this.workTree,
				timeoutMs: GIT_TIMEOUT_MS,
				...(stdin === undefined ? {} : { stdin }),
				env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "sidecar", GIT_COMMITTER_NAME: "sidecar" },
			});
		};
		const next = this.queue.then(call, call);
		this.queue = next.catch(() => undefined);
		return next;
	}

	/** Resolves when the calls queued so far are done (for tests). */
	async settled(): Promise<void> {
		await this.queue;
	}

	private init(): void {
		if (this.ready) return;
		if (!existsSync(join(this.gitDir, "HEAD"))) {
			mkdirSync(this.gitDir, { recursive: true });
			const r = Bun.spawnSync(["git", "init", "-q", "--bare", this.gitDir]);
			if (r.exitCode !== 0) throw new Error(`git init failed: ${r.stderr.toString()}`);
		}
		mkdirSync(join(this.gitDir, "info"), { recursive: true });
		writeFileSync(join(this.gitDir, "info", "exclude"), [...this.excluded].map((d) => `${d}/\n`).join(""));
		// Text as it is (no line-ending conversion), no automatic gc while a run waits.
		const settings: [string, string][] = [
			["core.autocrlf", "false"],
			["gc.auto", "0"],
			["core.quotePath", "false"],
			// Index v4 and the untracked cache: a snapshot of a large tree re-reads only what changed.
			["feature.manyFiles", "true"],
		];
		for (const [k, v] of settings) Bun.spawnSync(["git", `--git-dir=${this.gitDir}`, "config", k, v]);
		this.ready = true;
	}

	/** The tree of the workspace now (files outside repositories), as a tree id. */
	async snapshot(): Promise<string> {
		await this.git(["add", "--all", "--ignore-errors", "--", "."]).catch(() => "");
		return (await this.git(["write-tree"])).trim();
	}

	/** Files that differ between two snapshots: path → A (added), M (modified), D (deleted); links to repositories left out. */
	async changes(from: string, to: string): Promise<Map<string, "A" | "M" | "D">> {
		const out = await this.git(["diff-tree", "-r", "-z", "--no-renames", "--raw", from, to]);
		const parts = out.split("\0");
		const changes = new Map<string, "A" | "M" | "D">();
		for (let i = 0; i + 1 < parts.length; i += 2) {
			const meta = parts[i] ?? "";
			const path = parts[i + 1] ?? "";
			const [oldMode, newMode, , , status] = meta.replace(/^:/, "").split(" ");
			if (oldMode === "160000" || newMode === "160000") continue; // a repository: tracked by its own git
			const s = (status ?? "M")[0];
			changes.set(path, s === "A" ? "A" : s === "D" ? "D" : "M");
		}
		return changes;
	}

	/**
	 * Stores the files at `paths` (workspace-relative, as they are: no filters) as blobs, and gives
	 * their ids in the same order (undefined for one that could not be read). The blobs are in no
	 * tree: `keep` them before a `collect`.
	 */
	async store(paths: readonly string[]): Promise<(string | undefined)[]> {
		const hash = (list: readonly string[]) =>
			this.git(["hash-object", "-w", "--no-filters", "--stdin-paths"], list.map((p) => `${p}\n`).join(""));
		// `--stdin-paths` reads one path a line, and unquotes a line that begins with a quote.
		const storable = (p: string) => !/[\n\r]/.test(p) && !p.startsWith('"');
		if (!paths.some(storable)) return paths.map(() => undefined);
		try {
			const ids = (await hash(paths.filter(storable))).split("\n");
			let i = 0;
			return paths.map((p) => (storable(p) ? ids[i++] || undefined : undefined));
		} catch {
			// One file gone since it was listed fails the whole call: each on its own then.
			return Promise.all(
				paths.map(async (p) => (storable(p) ? (await hash([p]).catch(() => "")).trim() || undefined : undefined)),
			);
		}
	}

	/** The content of a blob `store` gave, or undefined if it is not there. */
	async blob(id: string): Promise<string | undefined> {
		return this.git(["cat-file", "blob", id]).catch(() => undefined);
	}

	/** The content of `path` in a snapshot, or undefined if it is not there. */
	async content(tree: string, path: string): Promise<string | undefined> {
		return this.git(["cat-file", "blob", `${tree}:${path}`]).catch(() => undefined);
	}

	/**
	 * Keeps the objects `ids` (trees and blobs) through `collect`: one tree holding them all (entry names
	 * are irrelevant), pointed at by `refs/sidecar/<name>` for each of `names` (no ids: the empty tree, a
	 * marker). Fails when one of them is not in the repository (collected, or never stored): `git mktree`
	 * checks that each entry exists.
	 */
	async keep(names: readonly string[], ids: KeptIds): Promise<void> {
		const entries = [
			...ids.trees.map((id, i) => `040000 tree ${id}\tt${i}\n`),
			...ids.blobs.map((id, i) => `100644 blob ${id}\tb${i}\n`),
		];
		const tree = (await this.git(["mktree"], entries.join(""))).trim();
		await this.git(["update-ref", "--stdin"], names.map((n) => `update refs/sidecar/${n} ${tree}\n`).join(""));
	}

	/** What `keep(names, …)` kept is no longer kept (no error for a name that kept nothing). */
	async release(names: readonly string[]): Promise<void> {
		await this.git(["update-ref", "--stdin"], names.map((n) => `delete refs/sidecar/${n}\n`).join(""));
	}

	/** The names `keep` holds under `prefix` (e.g. "start/"). */
	async kept(prefix: string): Promise<Set<string>> {
		const out = await this.git(["for-each-ref", "--format=%(refname)", `refs/sidecar/${prefix}`]);
		return new Set(
			out
				.split("\n")
				.filter(Boolean)
				.map((r) => r.slice("refs/sidecar/".length)),
		);
	}

	/**
	 * Deletes every object no ref (`keep`) and no index entry reaches: the snapshots and blobs of runs and
	 * sessions no longer kept. `git add` and `hash-object` write loose objects; a prune deletes the loose
	 * ones, then `repack -a -d` packs the rest into one pack, dropping unreachable packed ones (a loose
	 * object takes a 4 KiB block at least: 500 sessions' start states of a 200-file tree are 8.6 MiB loose,
	 * 0.16 MiB packed; scripts/private-git-gc-probe.ts). In the call queue like every other call, so never
	 * while a snapshot is written; the caller makes sure no state is between its capture and its `keep`
	 * (its objects are unreachable there), and no snapshot starts until this is done: `git add` does not
	 * write an object that exists, and one that exists only in a pack being replaced would be lost.
	 */
	async collect(): Promise<void> {
		await this.git(["prune", "--expire=now"]);
		await this.git(["repack", "-a", "-d", "-q"]);
	}

	/** The repository's objects and their size on disk, loose and packed. */
	async count(): Promise<ObjectCount> {
		return parseCount(await this.git(["count-objects", "-v"]));
	}
}

/** Objects `keep` keeps: snapshots (trees) and stored files (blobs). */
export interface KeptIds {
	readonly trees: readonly string[];
	readonly blobs: readonly string[];
}

/** The objects in the repository and their size on disk (loose and packed). */
export interface ObjectCount {
	readonly objects: number;
	readonly bytes: number;
}

/** `git count-objects -v` output as an ObjectCount. Pure. */
export function parseCount(text: string): ObjectCount {
	const v = new Map(
		text
			.split("\n")
			.map((l) => l.split(": "))
			.filter((p) => p.length === 2)
			.map(([k, n]) => [k, Number(n)]),
	);
	const n = (k: string) => v.get(k) ?? 0;
	return { objects: n("count") + n("in-pack"), bytes: (n("size") + n("size-pack")) * 1024 };
}
