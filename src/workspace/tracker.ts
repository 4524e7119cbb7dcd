import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Change, type FileChange, unifiedDiff } from "./diff";
import { type KeptIds, type ObjectCount, PrivateGit } from "./private-git";
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
	/** Collections of the private repository after sessions were removed: at most one per this many ms (0, unset: never). */
	readonly collectIntervalMs?: number;
	/** The injected clock's time (ms), for `collectIntervalMs`. */
	readonly now?: () => number;
	/** The sessions stored (their start states are kept through a collection, also one written by an earlier version). */
	readonly stored?: () => Iterable<string>;
	/** After each collection: the repository's objects before and after, and how long it took. */
	readonly onCollected?: (result: Collected) => void;
}

export interface Collected {
	readonly before: ObjectCount;
	readonly after: ObjectCount;
	readonly ms: number;
}

/** Ref names (under refs/sidecar/) of a session's start state and of its running run's state; hex: any id is a valid ref name. */
const startRef = (key: string) => `start/${Buffer.from(key).toString("hex")}`;
const runRef = (key: string) => `run/${Buffer.from(key).toString("hex")}`;
const START_PREFIX = "start/";

/** The private repository's objects a state needs. Pure. */
function idsOf(state: WorkspaceState): KeptIds {
	return { trees: state.plainTree === undefined ? [] : [state.plainTree], blobs: [...new Set(state.content.values())] };
}
const holdsObjects = (ids: KeptIds) => ids.trees.length + ids.blobs.length > 0;

/**
 * Tracks what each run changes under the workspace: its state when the run
 * starts (before the engine has the prompt), compared with the tree when it
 * ends. Every change in that window counts, whoever made it: with several
 * sessions running in one workspace at once, each one's list also holds the
 * others' changes made while it ran. The state before a session's first run
 * is kept for its diff, for as long as the session is stored, on disk
 * (start-state.ts: commit and tree ids, dirty files' identities and blob ids,
 * no file's content); memory holds only the running runs' states.
 *
 * The private repository would grow with every run (each snapshot and stored
 * file is an object), so what is still needed is kept by refs and the rest is
 * collected: a session's start state by `refs/sidecar/start/<hex id>` (for as
 * long as it is stored), a running run's state by `refs/sidecar/run/<hex id>`
 * (until it ends), the current snapshot by the index. A collection runs after
 * sessions were removed, at most once per `collectIntervalMs`, and never
 * between a state's capture and its ref (the objects would be unreachable
 * there): it waits for begins and ends under way, and those that start while
 * it runs wait for it (PrivateGit.collect: a snapshot may not start during
 * one). That wait is ~0.45 s for a 200-file workspace after 1,000 sessions
 * with 500 kept (against 15 ms for a begin alone; scripts/private-git-gc-probe.ts),
 * once per WORKSPACE_GC_INTERVAL (1 h) at most: a rare delay of one run's start,
 * for a repository that no longer grows with every run.
 */
export class WorkspaceTracker {
	/** The state before each session's current run. */
	private readonly runs = new Map<string, WorkspaceState>();

	private readonly plainGit: PrivateGit;
	/** Begins and ends under way (a collection waits for none to be). */
	private busy = 0;
	/** The collection under way (begins and ends wait for it). */
	private collecting: Promise<void> | undefined;
	/** A collection asked for while busy: started when the last begin or end under way is done. */
	private deferred: { readonly done: Promise<void>; readonly start: () => void } | undefined;
	private lastCollection = Number.NEGATIVE_INFINITY;

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
		// Resolves once the state is captured: the prompt need not wait for its refs (two more git calls, ~4 ms),
		// which are made after it inside the same section, so a collection still waits for them.
		let captured = () => {};
		const taken = new Promise<void>((resolve) => {
			captured = resolve;
		});
		await Promise.race([taken, this.exclusiveOfCollection(() => this.capture(key, captured))]);
	}

	private async capture(key: string, captured: () => void): Promise<void> {
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
		const first = !existsSync(file);
		if (first) {
			try {
				saveState(file, state);
			} catch (error) {
				// Its diff then has no patch for what was there before (the changes are still listed).
				this.options.onError?.(error);
			}
		}
		const ids = idsOf(state);
		// The run's state until it ends; the first run's also as the session's start (the empty tree when there is
		// nothing to keep: a marker that the session needs no adoption at a collection). Queued before `captured`
		// lets the run go on, so the run's end (queued on the same repository after it) finds them made.
		const refs = [...(holdsObjects(ids) ? [runRef(key)] : []), ...(first ? [startRef(key)] : [])];
		const kept = refs.length > 0 ? this.plainGit.keep(refs, ids) : Promise.resolve();
		captured();
		await kept.catch((error) => this.options.onError?.(error));
	}

	/** The run of `key` ended: what changed since it began (nothing known if it never began). */
	async end(key: string): Promise<WorkspaceChanges> {
		const before = this.runs.get(key);
		this.runs.delete(key);
		if (!before) return { added: [], modified: [], deleted: [] };
		return this.exclusiveOfCollection(async () => {
			try {
				return await changesSince(this.root, before, this.plainGit);
			} finally {
				if (holdsObjects(idsOf(before)))
					await this.plainGit.release([runRef(key)]).catch((error) => this.options.onError?.(error));
			}
		});
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

	/** Resolves when the collection and the git calls under way are done (for tests). */
	async settled(): Promise<void> {
		while (this.collecting || this.deferred) await (this.collecting ?? this.deferred?.done);
		await this.plainGit.settled();
	}

	/** The session is gone (removed from disk): its objects are collected at the next collection. */
	forget(key: string): void {
		this.runs.delete(key);
		rmSync(this.options.startFile(key), { force: true });
		void this.plainGit.release([startRef(key), runRef(key)]).catch((error) => this.options.onError?.(error));
	}

	/**
	 * Sessions were removed: a collection, unless one ran less than `collectIntervalMs` ago (or it is 0).
	 * Resolves when it is done (at once when there is none); never rejects.
	 */
	sessionsRemoved(): Promise<void> {
		const interval = this.options.collectIntervalMs ?? 0;
		const now = this.options.now?.() ?? 0;
		if (interval <= 0 || now - this.lastCollection < interval) return Promise.resolve();
		return this.collect();
	}

	/**
	 * Deletes the private repository's objects that no stored session's start state, no running run's
	 * state and not the current snapshot needs; now, or once no begin or end is under way. Resolves when
	 * done; never rejects (a failure goes to `onError`).
	 */
	collect(): Promise<void> {
		if (this.collecting) return this.collecting;
		if (this.busy === 0) return this.startCollection();
		if (!this.deferred) {
			let start = () => {};
			const done = new Promise<void>((resolve) => {
				start = () => resolve(this.startCollection());
			});
			this.deferred = { done, start };
		}
		return this.deferred.done;
	}

	private startCollection(): Promise<void> {
		this.lastCollection = this.options.now?.() ?? 0;
		const collecting = this.collectNow().finally(() => {
			this.collecting = undefined;
		});
		this.collecting = collecting;
		return collecting;
	}

	private async collectNow(): Promise<void> {
		try {
			await this.adoptStored();
			const started = performance.now();
			const before = await this.plainGit.count();
			await this.plainGit.collect();
			const after = await this.plainGit.count();
			this.options.onCollected?.({ before, after, ms: Math.round(performance.now() - started) });
		} catch (error) {
			this.options.onError?.(error);
		}
	}

	/**
	 * A session stored by an earlier version has a start file and no ref: its ref is made from the file
	 * (when its objects are still there) before anything is collected.
	 */
	private async adoptStored(): Promise<void> {
		const kept = await this.plainGit.kept(START_PREFIX);
		for (const key of this.options.stored?.() ?? []) {
			if (kept.has(startRef(key))) continue;
			const state = await loadState(this.options.startFile(key));
			if (!state) continue;
			// Objects already gone: its diff has no patch for them, as before.
			await this.plainGit.keep([startRef(key)], idsOf(state)).catch(() => undefined);
		}
	}

	/** Runs `f` (a begin or an end) when no collection is under way; a collection waits for it. */
	private async exclusiveOfCollection<T>(f: () => Promise<T>): Promise<T> {
		while (this.collecting) await this.collecting;
		this.busy++;
		try {
			return await f();
		} finally {
			this.busy--;
			const deferred = this.deferred;
			if (this.busy === 0 && deferred) {
				this.deferred = undefined;
				deferred.start();
			}
		}
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
