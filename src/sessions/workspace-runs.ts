import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import type { Change } from "../workspace/diff";
import { mergeChanges, WorkspaceTracker, withoutOthersEdits } from "../workspace/tracker";
import type { FileChange } from "./diff";
import type { SessionRegistry } from "./registry";
import type { Session } from "./session";
import type { WorkspaceSettings } from "./settings";
import type { SessionStore } from "./store";

export interface WorkspaceRunsDeps {
	readonly tracker: WorkspaceTracker;
	readonly registry: SessionRegistry;
	readonly log: Logger;
}

/**
 * The workspace tracker as the sessions use it: each session's start state beside it in the store,
 * the private repository collected after removals (WORKSPACE_GC_INTERVAL), `stored` kept through one.
 */
export function workspaceTracker(
	deps: {
		readonly settings: WorkspaceSettings;
		readonly store: SessionStore;
		readonly clock: Clock;
		readonly log: Logger;
	},
	stored: () => Iterable<string>,
): WorkspaceTracker {
	const { settings, store, clock, log } = deps;
	return new WorkspaceTracker(settings.workspaceDir, settings.stateDir, {
		startFile: (id) => store.fileOf(id, "workspace-start.json"),
		onError: (error) => log.warn({ err: String(error) }, "workspace snapshot failed"),
		collectIntervalMs: settings.workspaceGcIntervalMs,
		now: () => clock.now(),
		stored,
		onCollected: ({ before, after, ms }) =>
			log.info(
				{
					objects_before: before.objects,
					objects_after: after.objects,
					bytes_before: before.bytes,
					bytes_after: after.bytes,
					duration_ms: ms,
				},
				"workspace snapshot repository collected",
			),
	});
}

/** What each run changed in the workspace (the tracker's scans), folded into the session's record. */
export class WorkspaceRuns {
	constructor(private readonly deps: WorkspaceRunsDeps) {}

	/** Before the engine has the prompt: everything the run changes is after this. */
	begin(sessionId: string): Promise<void> {
		return this.deps.tracker.begin(sessionId);
	}

	/** The tracked changes as diffs. */
	describe(sessionId: string, changes: Readonly<Record<string, Change>>): Promise<FileChange[]> {
		return this.deps.tracker.describe(sessionId, changes);
	}

	/** Resolves when the workspace's git work under way is done (for tests). */
	settled(): Promise<void> {
		return this.deps.tracker.settled();
	}

	forget(sessionId: string): void {
		this.deps.tracker.forget(sessionId);
	}

	/** Sessions were removed (after their `forget`): the private repository is collected when due. */
	sessionsRemoved(): void {
		void this.deps.tracker.sessionsRemoved();
	}

	/** What the run changed in the workspace, folded into the session's record; the paths. */
	async scan(session: Session): Promise<string[]> {
		try {
			const all = await this.deps.tracker.end(session.id);
			const changes = withoutOthersEdits(all, this.othersEdits(session));
			const paths = [...changes.added, ...changes.modified, ...changes.deleted];
			session.workspaceChanged(mergeChanges(session.record.workspace_changes ?? {}, changes), paths);
			return paths;
		} catch (error) {
			this.deps.log.warn({ session_id: session.id, err: String(error) }, "workspace scan failed");
			return [];
		}
	}

	/**
	 * Files that other sessions' own write/edit calls changed, which this session's did not: a change the
	 * workspace tracker sees during this run is this session's unless another session's tool says it made it.
	 */
	private othersEdits(session: Session): Set<string> {
		const mine = new Set(session.ownEdits);
		const since = session.record.started_at ?? "";
		const others = new Set<string>();
		for (const s of this.deps.registry.all()) {
			if (s === session || (s.ended && (s.record.ended_at ?? "") < since)) continue;
			for (const f of s.ownEdits) if (!mine.has(f)) others.add(f);
		}
		return others;
	}
}
