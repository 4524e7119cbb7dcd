import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { structuredPatch } from "diff";
import { MAX_CONTENT_BYTES } from "./snapshot";

export type Change = "added" | "modified" | "deleted";

export interface FileChange {
	path: string;
	status: Change;
	additions: number;
	deletions: number;
	diff: string;
}

async function current(path: string): Promise<string | undefined> {
	try {
		if ((await stat(path)).size > MAX_CONTENT_BYTES) return undefined;
		const buf = await readFile(path);
		return buf.includes(0) ? undefined : buf.toString("utf8");
	} catch {
		return undefined;
	}
}

/**
 * One file's entry: a unified diff (jsdiff) from `before` to its content now.
 * `before` undefined (too large, binary, not kept): listed with no patch.
 */
export async function unifiedDiff(
	root: string,
	path: string,
	status: Change,
	before: string | undefined,
): Promise<FileChange> {
	const after = status === "deleted" ? "" : await current(join(root, path));
	if (before === undefined || after === undefined) return { path, status, additions: 0, deletions: 0, diff: "" };
	const patch = structuredPatch(
		status === "added" ? "/dev/null" : `a/${path}`,
		status === "deleted" ? "/dev/null" : `b/${path}`,
		before,
		after,
	);
	let additions = 0;
	let deletions = 0;
	let body = `--- ${patch.oldFileName}\n+++ ${patch.newFileName}\n`;
	for (const h of patch.hunks) {
		// An empty side starts at line 0 (as `diff -u` writes it).
		const oldStart = h.oldLines === 0 ? h.oldStart - 1 : h.oldStart;
		const newStart = h.newLines === 0 ? h.newStart - 1 : h.newStart;
		body += `@@ -${oldStart},${h.oldLines} +${newStart},${h.newLines} @@\n`;
		for (const line of h.lines) {
			if (line.startsWith("+")) additions++;
			else if (line.startsWith("-")) deletions++;
			body += `${line}\n`;
		}
	}
	return { path, status, additions, deletions, diff: body };
}
