import { isObject, num, str } from "../engine/events";
import type { FileChange } from "../workspace/diff";

export type { FileChange } from "../workspace/diff";

/**
 * The session's changes per file, from the engine's own record: each user
 * message (one per run) carries `summary.diffs`, the workspace diff of that
 * run. Runs are combined in order: counts add up, patches are concatenated, a
 * file added by one run and changed by a later one stays "added". Pure.
 */
export function sessionChanges(messages: readonly unknown[]): FileChange[] {
	const byPath = new Map<string, FileChange>();
	for (const m of messages) {
		if (!isObject(m) || !isObject(m.info) || m.info.role !== "user") continue;
		const summary = isObject(m.info.summary) ? m.info.summary : {};
		for (const d of Array.isArray(summary.diffs) ? summary.diffs : []) {
			if (!isObject(d)) continue;
			const path = str(d.file);
			if (!path) continue;
			const status = d.status === "added" || d.status === "deleted" ? d.status : "modified";
			const change = {
				path,
				status,
				additions: num(d.additions) ?? 0,
				deletions: num(d.deletions) ?? 0,
				diff: str(d.patch) ?? "",
			} satisfies FileChange;
			const before = byPath.get(path);
			if (!before) {
				byPath.set(path, change);
				continue;
			}
			before.additions += change.additions;
			before.deletions += change.deletions;
			before.diff += before.diff && change.diff && !before.diff.endsWith("\n") ? `\n${change.diff}` : change.diff;
			if (status === "deleted") before.status = before.status === "added" ? "deleted" : "deleted";
			else if (before.status === "deleted") before.status = "modified";
		}
	}
	return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}
