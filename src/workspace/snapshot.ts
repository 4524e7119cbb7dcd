import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";

/**
 * The state of a workspace's files, to tell what a run changed whatever the
 * workspace holds (one git repository, several in subdirectories, or none)
 * and whichever tool changed it (bash included). Each file is known by its
 * size, mtime, ctime and inode: no content is read, so a snapshot of 100,000
 * files costs a directory walk and one `lstat` each (measured in the bench).
 *
 * Inside a git repository (a directory holding `.git`) the files are the
 * repository's own list (`git ls-files --cached --others --exclude-standard`),
 * so its ignore rules apply. Elsewhere, directories in SKIPPED_DIRS are not
 * entered.
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

/** Workspace-relative path (with `/`) → a file's identity. */
export type Snapshot = Map<string, string>;

export interface WorkspaceChanges {
	readonly added: string[];
	readonly modified: string[];
	readonly deleted: string[];
}

const identity = (path: string): string | undefined => {
	try {
		const s = lstatSync(path);
		if (s.isDirectory()) return undefined;
		return `${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.ino}`;
	} catch {
		return undefined; // gone between the listing and the stat
	}
};

const toKey = (root: string, path: string): string => relative(root, path).split(sep).join("/");

/** The files of one git repository, as git lists them (ignored files left out); undefined when git fails. */
function gitFiles(repo: string): string[] | undefined {
	const r = spawnSync("git", ["-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
		encoding: "buffer",
		maxBuffer: 1 << 30,
	});
	if (r.status !== 0) return undefined;
	return r.stdout.toString("utf8").split("\0").filter(Boolean);
}

/** Snapshots every file under `root` (see the module comment for what is left out). */
export function takeSnapshot(root: string): Snapshot {
	const snap: Snapshot = new Map();
	const walk = (dir: string): void => {
		if (existsSync(join(dir, ".git"))) {
			const files = gitFiles(dir);
			if (files) {
				for (const f of files) {
					const path = join(dir, f);
					const id = identity(path);
					if (id !== undefined) snap.set(toKey(root, path), id);
				}
				return;
			}
		}
		let entries: import("node:fs").Dirent[];
		try {
			entries = readdirSync(dir, { withFileTypes: true });
		} catch {
			return;
		}
		for (const e of entries) {
			const path = join(dir, e.name);
			if (e.isDirectory()) {
				if (!SKIPPED_DIRS.has(e.name)) walk(path);
				continue;
			}
			const id = identity(path);
			if (id !== undefined) snap.set(toKey(root, path), id);
		}
	};
	walk(root);
	return snap;
}

/** What changed between two snapshots of the same root. Pure. */
export function compareSnapshots(before: Snapshot, after: Snapshot): WorkspaceChanges {
	const added: string[] = [];
	const modified: string[] = [];
	const deleted: string[] = [];
	for (const [path, id] of after) {
		const was = before.get(path);
		if (was === undefined) added.push(path);
		else if (was !== id) modified.push(path);
	}
	for (const path of before.keys()) if (!after.has(path)) deleted.push(path);
	return { added: added.sort(), modified: modified.sort(), deleted: deleted.sort() };
}
