import { isAbsolute, relative, resolve, sep } from "node:path";
import type { PermissionPolicy } from "../config/parse";

/** A permission request of the agent (engine `permission.asked`). */
export interface PermissionAsk {
	readonly id: string;
	readonly permission: string;
	readonly patterns: readonly string[];
	/** Paths the request is about (from its metadata), if any. */
	readonly paths: readonly string[];
}

export interface PermissionDecision {
	readonly decision: "allow" | "reject";
	/** Said to the agent on a rejection so it can continue another way, and shown in the `permission` event. */
	readonly reason: string;
}

const inside = (dir: string, path: string): boolean => {
	const rel = relative(dir, resolve(dir, path));
	return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
};

/**
 * Answers a permission request without a person. Pure.
 *
 * `workspace`: anything about paths inside the workspace is allowed; a request
 * for a directory outside it, or a path outside it, is rejected; so is a
 * doom loop (the same call repeated), so the agent changes course instead of
 * spinning until the session timeout.
 */
export function decidePermission(
	ask: PermissionAsk,
	policy: PermissionPolicy,
	workspaceDir: string,
): PermissionDecision {
	if (policy === "allow") return { decision: "allow", reason: "PERMISSION_POLICY=allow" };
	if (policy === "reject") {
		return {
			decision: "reject",
			reason: "Not allowed: this session runs unattended and the policy rejects every request.",
		};
	}
	if (ask.permission === "external_directory") {
		return {
			decision: "reject",
			reason: `Not allowed: only files inside the workspace (${workspaceDir}) may be used. Continue without them.`,
		};
	}
	if (ask.permission === "doom_loop") {
		return {
			decision: "reject",
			reason: "Not allowed: the same tool call was repeated several times with no progress. Try a different approach.",
		};
	}
	const outside = [...ask.paths, ...ask.patterns.filter((p) => isAbsolute(p))].find(
		(p) => !inside(workspaceDir, p.replace(/\*+$/, "")),
	);
	if (outside !== undefined) {
		return {
			decision: "reject",
			reason: `Not allowed: ${outside} is outside the workspace (${workspaceDir}).`,
		};
	}
	return { decision: "allow", reason: "inside the workspace" };
}
