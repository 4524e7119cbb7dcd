import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Change, type FileChange, unifiedDiff } from "./diff";
import { PrivateGit } from "./private-git";
import {
	captureState,
	changesSince,
	contentBefore,
	SKIPPED_DIRS,
	type WorkspaceChanges,
	type WorkspaceState,
} from "./snapshot";
import { loadState, saveState } from "./start-state";

export type ChangeStatus = Change;

export interface TrackerOptions {
	/** Where the state before session `key`'s first run is kept (a file in its directory, removed with it). */
	readonly startFile: (key: string) => string;
	readonly onError?: (error: unknown) => void;
}

/**
 * Tracks what each run changes under the workspace: its state when the run
 * starts (before the engine has the prompt), compared with the tree when it
 * ends. Every change in that window counts, whoever made it: with several
 * sessions running in one workspace at once, each one's list also holds the
 * others' changes made while it ran. The state before a session's first run
 * is kept for its diff, for as long as the session is stored, on disk
 * (start-state.ts: commit and tree ids, dirty files' identities and blob ids,
 * no file's content); memory holds only the running runs' states.
 */
export class WorkspaceTracker {
	/** The state before each session's current run. */
	private readonly runs = new Map<string, WorkspaceState>();

	private readonly plainGit: PrivateGit;

	constructor(
		private readonly root: string,
		stateDir: string,
		private readonly options: TrackerOptions,
	) {
		this.plainGit = new PrivateGit(join(stateDir, "workspace-snapshots.git"), root, SKIPPED_DIRS);
	}

	/** A run of `key` starts (a run resumed after an engine restart keeps its state). */
	async begin(key: string): Promise<void> {
		if (this.runs.has(key)) return;
		let state: WorkspaceState;
		try {
			state = await captureState(this.root, this.plainGit);
		} catch (error) {
			// The run goes on; its list then holds only what the engine reports.
			this.options.onError?.(error);
			return;
		}
		this.runs.set(key, state);
		const file = this.options.startFile(key);
		if (existsSync(file)) return; // not the session's first run
		try {
			saveState(file, state);
		} catch (error) {
			// Its diff then has no patch for what was there before (the changes are still listed).
			this.options.onError?.(error);
		}
	}

	/** The run of `key` ended: what changed since it began (nothing known if it never began). */
	async end(key: string): Promise<WorkspaceChanges> {
		const before = this.runs.get(key);
		this.runs.delete(key);
		if (!before) return { added: [], modified: [], deleted: [] };
		return changesSince(this.root, before, this.plainGit);
	}

	/**
	 * Per file, its status and a unified diff from before the session's first
	 * run (no patch when that content is not known).
	 */
	async describe(key: string, changes: Readonly<Record<string, Change>>): Promise<FileChange[]> {
		const entries = Object.entries(changes);
		const before = entries.length === 0 ? undefined : await loadState(this.options.startFile(key));
		return Promise.all(
			entries.map(async ([path, status]) => {
				const old = status === "added" ? "" : before && (await contentBefore(this.root, before, path, this.plainGit));
				return unifiedDiff(this.root, path, status, old);
			}),
		);
	}

	/** The session is gone (removed from disk). */
	forget(key: string): void {
		this.runs.delete(key);
		rmSync(this.options.startFile(key), { force: true });
	}
}

/**
 * Folds one run's changes into the session's record of them. Pure. A file
 * added by one run and changed by a later one stays added; added then deleted
 * disappears; deleted then created again is modified.
 */
export function mergeChanges(into: Record<string, Change>, run: WorkspaceChanges): Record<string, Change> {
	const out = { ...into };
	for (const p of run.added) out[p] = out[p] === "deleted" ? "modified" : "added";
	for (const p of run.modified) out[p] = out[p] === "added" ? "added" : "modified";
	for (const p of run.deleted) {
		if (out[p] === "added") delete out[p];
		else out[p] = "deleted";
	}
	return out;
}

/** A run's changes without the paths in `others` (changed by another session's own tools). Pure. */
export function withoutOthersEdits(changes: WorkspaceChanges, others: ReadonlySet<string>): WorkspaceChanges {
	if (others.size === 0) return changes;
	const keep = (paths: string[]) => paths.filter((p) => !others.has(p));
	return { added: keep(changes.added), modified: keep(changes.modified), deleted: keep(changes.deleted) };
}
