import { compareSnapshots, type Snapshot, takeSnapshot, type WorkspaceChanges } from "./snapshot";

export type ChangeStatus = "added" | "modified" | "deleted";

/**
 * Tracks what each run changes under the workspace: a snapshot when the run
 * starts (before the engine has its prompt), compared with the tree when it
 * ends. Every change in that window counts, whoever made it: with several
 * sessions running in one workspace at once, each one's list also holds the
 * others' changes made while it ran.
 */
export class WorkspaceTracker {
	private readonly before = new Map<string, Snapshot>();

	constructor(private readonly root: string) {}

	/** A run of `key` starts; a run that already has its snapshot (a resumed one) keeps it. */
	begin(key: string): void {
		if (!this.before.has(key)) this.before.set(key, takeSnapshot(this.root));
	}

	/** The run of `key` ended: what changed since it began (empty if it never began). */
	end(key: string): WorkspaceChanges {
		const before = this.before.get(key);
		this.before.delete(key);
		if (!before) return { added: [], modified: [], deleted: [] };
		return compareSnapshots(before, takeSnapshot(this.root));
	}

	/** The run of `key` ended without a result to report (failed, cancelled): drops its snapshot. */
	forget(key: string): void {
		this.before.delete(key);
	}
}

/**
 * Folds one run's changes into the session's record of them. Pure. A file
 * added by one run and changed by a later one stays added; added then deleted
 * disappears; deleted then created again is modified.
 */
export function mergeChanges(into: Record<string, ChangeStatus>, run: WorkspaceChanges): Record<string, ChangeStatus> {
	const out = { ...into };
	for (const p of run.added) out[p] = out[p] === "deleted" ? "modified" : "added";
	for (const p of run.modified) out[p] = out[p] === "added" ? "added" : "modified";
	for (const p of run.deleted) {
		if (out[p] === "added") delete out[p];
		else out[p] = "deleted";
	}
	return out;
}
