import { type Dirent, existsSync } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { GIT_TIMEOUT_MS, runGit } from "./git-run";
import type { PrivateGit } from "./private-git";

/**
 * The state of a workspace's files when a run starts, to tell afterwards what
 * the run changed, whatever the workspace holds (one git repository, several
 * in subdirectories, or none) and whichever tool changed it (bash included).
 *
 * - Inside a git repository (a directory holding `.git`: the workspace root or
 *   any subdirectory outside another repository), git says what differs from
 *   its HEAD (`git status`, ignore rules applied): the state is the HEAD and
 *   the dirty files with their identity (size, mtime, ctime, inode) and, under
 *   a size limit, their content. A clean file's content before the run is
 *   HEAD's. Cost: about one `git status` per repository, at each end.
 * - Elsewhere (a workspace that is not a repository's root) the files outside
 *   repositories are snapshotted in a private git repository under STATE_DIR
 *   (see PrivateGit; SKIPPED_DIRS are not entered), as the engine does for a
 *   git-root workspace: the content before the run is in its objects.
 * - The content of dirty files in repositories is kept when the run starts, up
 *   to MAX_CONTENT_BYTES each and CONTENT_BUDGET in all, as blobs in the
 *   private repository (the state holds their ids, no file's text: a stored
 *   session keeps its start state for its diff); clean files' content is the
 *   start commit's.
 */

/** Directories never entered outside a git repository (dependencies, caches, VCS data). */
export const SKIPPED_DIRS: ReadonlySet<string> = new Set([
	".git",
	"node_modules",
	".venv",
	"venv",
	"__pycache__",
	".cache",
	".next",
	".tox",
	".gradle",
	"target",
]);

/** Larger files get no before-content (their diff is empty). */
export const MAX_CONTENT_BYTES = 64 * 1024;
/** Before-content kept per run, in all (bytes). */
export const CONTENT_BUDGET = 16 * 1024 * 1024;

interface RepoState {
	/** Commit at the start (undefined: no commit yet). */
	readonly head: string | undefined;
	/** Workspace-relative path → identity of files git lists as changed or untracked. */
	readonly dirty: Map<string, string>;
}

export interface WorkspaceState {
	/** Repository directory (workspace-relative, "" for the root) → its state. */
	readonly repos: Map<string, RepoState>;
	/** Snapshot (tree id) of the files outside any repository; undefined when the workspace is a repository. */
	readonly plainTree: string | undefined;
	/** Dirty files in repositories before the run, where kept: path → blob id in the private repository. */
	readonly content: Map<string, string>;
}

export interface WorkspaceChanges {
	readonly added: string[];
	readonly modified: string[];
	readonly deleted: string[];
}

async function identity(path: string): Promise<string | undefined> {
	try {
		const s = await lstat(path);
		return s.isDirectory() ? undefined : `${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.ino}`;
	} catch {
		return undefined; // absent (deleted, or gone between the listing and the stat)
	}
}

/** The size of a regular file whose content may be kept (not over MAX_CONTENT_BYTES). */
async function keepableSize(path: string): Promise<number | undefined> {
	try {
		const s = await lstat(path);
		return s.isFile() && s.size <= MAX_CONTENT_BYTES ? s.size : undefined;
	} catch {
		return undefined;
	}
}

/** Text, as a diff's before-content: undefined when too large or binary. */
const asText = (blob: string | undefined) =>
	blob !== undefined && blob.length <= MAX_CONTENT_BYTES && !blob.includes("\0") ? blob : undefined;

async function git(repo: string, args: string[]): Promise<string | undefined> {
	try {
		return await runGit(["-C", repo, ...args], { timeoutMs: GIT_TIMEOUT_MS });
	} catch {
		return undefined;
	}
}

/** Paths git reports as differing from HEAD (or untracked), relative to the repository. */
async function dirtyPaths(repo: string): Promise<string[] | undefined> {
	const out = await git(repo, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]);
	if (out === undefined) return undefined;
	return out
		.split("\0")
		.filter((e) => e.length > 3)
		.map((e) => e.slice(3))
		.filter((p) => !p.endsWith("/")); // a nested repository inside this one: not followed
}

async function headOf(repo: string): Promise<string | undefined> {
	return (await git(repo, ["rev-parse", "--verify", "-q", "HEAD"]))?.trim() || undefined;
}

const rel = (dir: string, name: string) => (dir === "" ? name : posix.join(dir, name));

/** Finds the repositories under `root` (a walk of directories that does not enter repositories). */
async function survey(root: string): Promise<{ repos: string[] }> {
	const repos: string[] = [];
	const walk = async (dir: string): Promise<void> => {
		const abs = join(root, dir);
		if (existsSync(join(abs, ".git"))) {
			repos.push(dir);
			return;
		}
		let entries: Dirent[];
		try {
			entries = await readdir(abs, { withFileTypes: true });
		} catch {
			return;
		}
		const subdirs: Promise<void>[] = [];
		for (const e of entries) if (e.isDirectory() && !SKIPPED_DIRS.has(e.name)) subdirs.push(walk(rel(dir, e.name)));
		await Promise.all(subdirs);
	};
	await walk("");
	return { repos };
}

/** The state of the workspace now (before a run). */
export async function captureState(root: string, plainGit: PrivateGit): Promise<WorkspaceState> {
	const { repos } = await survey(root);
	const plainTree = repos.includes("") ? undefined : await plainGit.snapshot();
	const state: WorkspaceState = { repos: new Map(), plainTree, content: new Map() };
	let budget = CONTENT_BUDGET;
	const kept: string[] = [];
	const keep = async (path: string): Promise<void> => {
		if (budget <= 0) return;
		const size = await keepableSize(join(root, path));
		if (size === undefined) return;
		kept.push(path);
		budget -= size;
	};
	await Promise.all(
		repos.map(async (repo) => {
			const abs = join(root, repo);
			const [head, dirty] = await Promise.all([headOf(abs), dirtyPaths(abs)]);
			const ids = new Map<string, string>();
			for (const p of dirty ?? []) {
				const path = rel(repo, p);
				const id = await identity(join(root, path));
				ids.set(path, id ?? "absent");
				if (id !== undefined) await keep(path);
			}
			state.repos.set(repo, { head, dirty: ids });
		}),
	);
	if (kept.length > 0) {
		const blobs = await plainGit.store(kept);
		kept.forEach((path, i) => {
			const id = blobs[i];
			if (id !== undefined) state.content.set(path, id);
		});
	}
	return state;
}

/** What changed under `root` since `before` was captured. */
export async function changesSince(
	root: string,
	before: WorkspaceState,
	plainGit: PrivateGit,
): Promise<WorkspaceChanges> {
	const { repos } = await survey(root);
	const added = new Set<string>();
	const modified = new Set<string>();
	const deleted = new Set<string>();
	const note = (path: string, existedBefore: boolean, existsNow: boolean) => {
		if (existedBefore && existsNow) modified.add(path);
		else if (existsNow) added.add(path);
		else if (existedBefore) deleted.add(path);
	};
	await Promise.all(
		repos.map(async (repo) => {
			const abs = join(root, repo);
			const was = before.repos.get(repo);
			const [head, dirty] = await Promise.all([headOf(abs), dirtyPaths(abs)]);
			const candidates = new Set<string>([...(dirty ?? []).map((p) => rel(repo, p)), ...(was?.dirty.keys() ?? [])]);
			if (was?.head && head && was.head !== head) {
				const committed = await git(abs, ["diff", "--name-only", "-z", "--no-renames", was.head, head]);
				for (const p of committed?.split("\0").filter(Boolean) ?? []) candidates.add(rel(repo, p));
			}
			for (const path of candidates) {
				const now = await identity(join(root, path));
				const then = was?.dirty.get(path);
				if (then !== undefined && then === (now ?? "absent")) continue; // dirty before, untouched
				let existedBefore = false; // a repository that appeared during the run
				if (then !== undefined) existedBefore = then !== "absent";
				else if (was?.head) {
					// Clean at the start: it existed if the start commit has it.
					const spec = `${was.head}:${posix.relative(repo, path)}`;
					existedBefore = (await git(abs, ["cat-file", "-e", spec])) !== undefined;
				}
				note(path, existedBefore, now !== undefined);
			}
		}),
	);
	if (before.plainTree !== undefined && !repos.includes("")) {
		const changes = await plainGit.changes(before.plainTree, await plainGit.snapshot());
		for (const [path, status] of changes) {
			if (insideRepo(path, before)) continue; // a repository removed during the run: not followed
			note(path, status !== "A", status !== "D");
		}
	}
	const sorted = (s: Set<string>) => [...s].sort();
	return { added: sorted(added), modified: sorted(modified), deleted: sorted(deleted) };
}

/** A path now outside any repository that was inside one before (a repository removed): not tracked here. */
function insideRepo(path: string, before: WorkspaceState): boolean {
	for (const repo of before.repos.keys()) if (repo !== "" && path.startsWith(`${repo}/`)) return true;
	return false;
}

/**
 * The text of `path` before the run: kept at the start, or the start commit's
 * blob for a file that was clean in its repository; undefined when not known
 * (too large, binary, over budget).
 */
export async function contentBefore(
	root: string,
	before: WorkspaceState,
	path: string,
	plainGit: PrivateGit,
): Promise<string | undefined> {
	const kept = before.content.get(path);
	if (kept !== undefined) return asText(await plainGit.blob(kept));
	if (before.plainTree !== undefined && !insideRepo(path, before)) {
		return asText(await plainGit.content(before.plainTree, path));
	}
	for (const [repo, state] of before.repos) {
		const inside = repo === "" || path.startsWith(`${repo}/`);
		if (!inside || state.dirty.has(path) || !state.head) continue;
		return asText(await git(join(root, repo), ["show", `${state.head}:${posix.relative(repo, path)}`]));
	}
	return undefined;
}
