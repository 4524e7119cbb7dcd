import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrivateGit } from "../../src/workspace/private-git";
import { captureState, changesSince, SKIPPED_DIRS } from "../../src/workspace/snapshot";
import { now } from "../lib/clock";
import { type Row, type RowResult, ratio } from "../lib/result";
import { round } from "../lib/stats";

const FILES = 100_000;
const REPEAT = 5;

/** Median wall time (ms) of `REPEAT` runs of `fn`. */
async function median(fn: () => unknown): Promise<number> {
	const times: number[] = [];
	for (let i = 0; i < REPEAT; i++) {
		const t = now();
		await fn();
		times.push(now() - t);
	}
	return times.sort((a, b) => a - b)[Math.floor(REPEAT / 2)] ?? Number.NaN;
}

const git = (cwd: string, ...args: string[]) => {
	const r = Bun.spawnSync(["git", "-c", "user.name=b", "-c", "user.email=b@example.com", ...args], {
		cwd,
		stdout: "ignore",
		stderr: "pipe",
		env: { ...process.env, GIT_DIR: undefined, GIT_WORK_TREE: undefined },
	});
	if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
};

/** 100,000 small files in 1,000 directories of 100. */
function makeTree(root: string): void {
	for (let d = 0; d < FILES / 100; d++) {
		const dir = join(root, `d${d}`);
		mkdirSync(dir, { recursive: true });
		for (let f = 0; f < 100; f++) writeFileSync(join(dir, `f${f}.txt`), `file ${d}/${f}\n`);
	}
}

/**
 * The workspace tracker's end-of-run scan (snapshot + compare) on 100,000
 * files, against `git status` on the same tree and, for the engine's own
 * end-of-run snapshot, `git add -A` + `git write-tree` in a private
 * repository (what opencode does; its index already holds the tree).
 */
export async function workspaceRows(): Promise<RowResult> {
	const root = mkdtempSync(join(tmpdir(), "bench-workspace-"));
	try {
		const repo = join(root, "repo");
		makeTree(repo);
		git(repo, "init", "-q");
		git(repo, "add", "-A");
		git(repo, "commit", "-q", "-m", "tree");
		const plain = join(root, "plain");
		makeTree(plain);
		const privateDir = join(root, "engine-snapshot.git");
		git(root, "init", "-q", "--bare", privateDir);
		const engineSnapshot = () => {
			git(repo, `--git-dir=${privateDir}`, `--work-tree=${repo}`, "add", "-A");
			git(repo, `--git-dir=${privateDir}`, `--work-tree=${repo}`, "write-tree");
		};
		engineSnapshot(); // its first snapshot hashes everything; a run's end does not
		const repoGit = new PrivateGit(join(root, "tracker-repo.git"), repo, SKIPPED_DIRS);
		const plainGit = new PrivateGit(join(root, "tracker-plain.git"), plain, SKIPPED_DIRS);
		const before = await captureState(repo, repoGit);
		writeFileSync(join(repo, "d1", "f1.txt"), "changed\n");
		const trackerGit = await median(() => changesSince(repo, before, repoGit));
		const startGit = await median(() => captureState(repo, repoGit));
		await captureState(plain, plainGit); // the first snapshot of a tree hashes every file, once
		const beforePlain = await captureState(plain, plainGit);
		writeFileSync(join(plain, "d1", "f1.txt"), "changed\n");
		const trackerPlain = await median(() => changesSince(plain, beforePlain, plainGit));
		const startPlain = await median(() => captureState(plain, plainGit));
		const gitStatus = await median(() => git(repo, "status", "--porcelain"));
		const engine = await median(engineSnapshot);
		const row = (id: string, figure: string, measured: number, label: string, baseline: number): Row => ({
			id,
			figure,
			baseline: { label, value: round(baseline), unit: "ms" },
			measured: { value: round(measured), unit: "ms" },
			comparison: { kind: "ratio", value: round(ratio(measured, baseline)) },
			goal: "reported (the end-of-run scan should not cost more than the engine's own snapshot)",
			detail: { files: FILES, repeat: REPEAT, statistic: "median" },
		});
		return {
			rows: [
				row(
					"workspace.scan.git",
					"end-of-run scan, 100,000 files in a git repository",
					trackerGit,
					"git status",
					gitStatus,
				),
				row(
					"workspace.scan.engine",
					"end-of-run scan vs the engine's snapshot (git add -A + write-tree, private repo)",
					trackerGit,
					"engine-style snapshot",
					engine,
				),
				row(
					"workspace.scan.plain",
					"end-of-run scan, 100,000 files, no repository",
					trackerPlain,
					"engine-style snapshot (repo)",
					engine,
				),
				row(
					"workspace.start.git",
					"run-start capture, 100,000 files in a git repository",
					startGit,
					"git status",
					gitStatus,
				),
				row(
					"workspace.start.plain",
					"run-start capture, 100,000 files, no repository",
					startPlain,
					"engine-style snapshot (repo)",
					engine,
				),
			],
		};
	} finally {
		rmSync(root, { recursive: true, force: true });
	}
}
