import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";

export interface ReadinessDeps {
	readonly workspaceDir: string;
	readonly stateDir: string;
	/** True once shutdown began: the pod should leave Service endpoints at once. */
	readonly draining: () => boolean;
	/** Whether the engine answers its health check; undefined when it does, else why not. */
	readonly engineProblem: () => Promise<string | undefined>;
	/** What is wrong but does not make the pod unready (e.g. the process could not be hardened). */
	readonly warnings?: () => readonly string[];
}

async function writableDir(path: string): Promise<boolean> {
	try {
		if (!(await stat(path)).isDirectory()) return false;
		await access(path, constants.R_OK | constants.W_OK | constants.X_OK);
		return true;
	} catch {
		return false;
	}
}

/** The first readiness check that fails, in words; undefined when ready. */
export async function readinessProblem(deps: ReadinessDeps): Promise<string | undefined> {
	if (deps.draining()) return "shutting down";
	if (!(await writableDir(deps.workspaceDir)))
		return `workspace ${deps.workspaceDir} is not a readable and writable directory`;
	if (!(await writableDir(deps.stateDir)))
		return `state directory ${deps.stateDir} is not a readable and writable directory`;
	return deps.engineProblem();
}
