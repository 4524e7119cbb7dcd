import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temporary directory tree for one test file: a git workspace and a separate state directory. */
export interface TempDirs {
	readonly root: string;
	readonly workspace: string;
	readonly state: string;
	cleanup(): void;
}

export function makeTempDirs(prefix = "sidecar-test-"): TempDirs {
	const root = mkdtempSync(join(tmpdir(), prefix));
	const workspace = join(root, "workspace");
	const state = join(root, "state");
	Bun.spawnSync(["mkdir", "-p", workspace, state]);
	// Task workspaces are git clones; the engine behaves differently without a repository.
	const git = (...args: string[]) =>
		Bun.spawnSync(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", ...args], { cwd: workspace });
	git("init", "-q");
	Bun.write(join(workspace, "README.md"), "# test workspace\n");
	git("add", ".");
	git("commit", "-q", "-m", "init");
	return {
		root,
		workspace,
		state,
		cleanup: () => rmSync(root, { recursive: true, force: true }),
	};
}

/**
 * Makes `workspace` no repository's root, with a repository in `name/` holding `file` committed as
 * `committed`: the tracker snapshots the root's files in its private repository and keeps the
 * repository's dirty files' content as blobs.
 */
export function subRepository(workspace: string, name: string, file: string, committed: string): string {
	rmSync(join(workspace, ".git"), { recursive: true, force: true });
	const repo = join(workspace, name);
	mkdirSync(repo);
	const git = (...args: string[]) =>
		Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
	writeFileSync(join(repo, file), committed);
	git("init", "-q");
	git("add", file);
	git("commit", "-q", "-m", file);
	return repo;
}
