import { renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { WorkspaceState } from "./snapshot";

/**
 * The workspace's state before a session's first run, on disk beside the
 * session (issue 13: an ended session's diff needs it for as long as the
 * session is stored, and memory must not grow with stored sessions; on disk it
 * also outlives a restart). It holds what the state holds: commit, tree and
 * blob ids, paths and file identities (size, times, inode), no file's content.
 */
const StartStateFile = Type.Object({
	version: Type.Literal(1),
	/** Repository directory → its HEAD (null: no commit yet) and dirty files as [path, identity]. */
	repos: Type.Array(
		Type.Tuple([
			Type.String(),
			Type.Object({
				head: Type.Union([Type.String(), Type.Null()]),
				dirty: Type.Array(Type.Tuple([Type.String(), Type.String()])),
			}),
		]),
	),
	plainTree: Type.Union([Type.String(), Type.Null()]),
	/** [path, blob id] of dirty files' content kept in the private repository. */
	content: Type.Array(Type.Tuple([Type.String(), Type.String()])),
});
type StartStateFile = Static<typeof StartStateFile>;

export function encodeState(state: WorkspaceState): string {
	const file: StartStateFile = {
		version: 1,
		repos: [...state.repos].map(([dir, repo]) => [dir, { head: repo.head ?? null, dirty: [...repo.dirty] }]),
		plainTree: state.plainTree ?? null,
		content: [...state.content],
	};
	return JSON.stringify(file);
}

/** The state in `text`, or undefined when it is not a start-state file. */
export function decodeState(text: string): WorkspaceState | undefined {
	let file: unknown;
	try {
		file = JSON.parse(text);
	} catch {
		return undefined;
	}
	if (!Value.Check(StartStateFile, file)) return undefined;
	return {
		repos: new Map(
			file.repos.map(([dir, repo]) => [dir, { head: repo.head ?? undefined, dirty: new Map(repo.dirty) }]),
		),
		plainTree: file.plainTree ?? undefined,
		content: new Map(file.content),
	};
}

/** Writes `state` to `path` atomically (a crash leaves the old file or the new one, never half), 0600. */
export function saveState(path: string, state: WorkspaceState): void {
	const tmp = `${path}.tmp`;
	writeFileSync(tmp, encodeState(state), { mode: 0o600 });
	renameSync(tmp, path);
}

/** The state stored at `path`; undefined when there is none (or it is unreadable). */
export async function loadState(path: string): Promise<WorkspaceState | undefined> {
	try {
		return decodeState(await readFile(path, "utf8"));
	} catch {
		return undefined;
	}
}
