import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { FileChange } from "../sessions/diff";
import type { ChangeStatus } from "./tracker";

/** Larger files are listed without their content in the diff. */
export const MAX_DIFF_BYTES = 256 * 1024;

/** A unified diff that creates `path` with `text`. Pure. */
export function creationDiff(path: string, text: string): { diff: string; additions: number } {
	if (text === "") return { diff: `--- /dev/null\n+++ b/${path}\n`, additions: 0 };
	const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
	const body = lines.map((l) => `+${l}`).join("\n");
	const noEol = text.endsWith("\n") ? "" : "\n\\ No newline at end of file";
	return {
		diff: `--- /dev/null\n+++ b/${path}\n@@ -0,0 +1,${lines.length} @@\n${body}${noEol}\n`,
		additions: lines.length,
	};
}

function readText(path: string): string | undefined {
	try {
		if (statSync(path).size > MAX_DIFF_BYTES) return undefined;
		const buf = readFileSync(path);
		return buf.includes(0) ? undefined : buf.toString("utf8");
	} catch {
		return undefined;
	}
}

/**
 * Entries for the files the workspace tracker saw change that the engine's
 * own record (git-root workspaces only) does not list. An added file gets its
 * whole content as the diff; a changed or deleted one is listed with its
 * status and no patch: the tracker keeps no copy of files from before the run.
 */
export function trackedChanges(
	root: string,
	changes: Readonly<Record<string, ChangeStatus>>,
	known: ReadonlySet<string>,
): FileChange[] {
	const out: FileChange[] = [];
	for (const [path, status] of Object.entries(changes)) {
		if (known.has(path)) continue;
		const text = status === "added" ? readText(join(root, path)) : undefined;
		const created = text === undefined ? undefined : creationDiff(path, text);
		out.push({
			path,
			status,
			additions: created?.additions ?? 0,
			deletions: 0,
			diff: created?.diff ?? "",
		});
	}
	return out;
}
