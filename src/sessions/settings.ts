import type { Config } from "../config/parse";
import type { RunSettings } from "./run-effects";

/** What the run executor reads: the run machine's settings and its own limits. */
export interface ExecutorSettings extends RunSettings {
	/** ENGINE_CALL_TIMEOUT: an engine call (launch, abort, delete) that takes longer fails. */
	readonly engineCallTimeoutMs: number;
	/** MAX_STORED_SESSIONS: ended sessions kept beyond this are pruned, oldest first. */
	readonly maxStoredSessions: number;
}

/** What the workspace tracker of the sessions reads. */
export interface WorkspaceSettings {
	readonly workspaceDir: string;
	readonly stateDir: string;
	/** WORKSPACE_GC_INTERVAL. */
	readonly workspaceGcIntervalMs: number;
}

/** The sessions layer's slice of the configuration, one part per component. */
export interface SessionsSettings {
	readonly executor: ExecutorSettings;
	readonly workspace: WorkspaceSettings;
	/** MAX_CONCURRENT_SESSIONS. */
	readonly maxConcurrentSessions: number;
	/** ENGINE_CALL_TIMEOUT, for the calls the service makes itself (agents, messages). */
	readonly engineCallTimeoutMs: number;
	/** RESUME_INTERRUPTED: whether a run the previous process was running fetches its key again. */
	readonly resumeInterrupted: boolean;
}

/** Cuts the sessions layer's slice out of the whole configuration (called at the composition root). */
export function sessionsSettings(config: Config): SessionsSettings {
	return {
		executor: {
			sessionTimeoutMs: config.sessionTimeoutMs,
			maxRetries: config.providerMaxRetries,
			resumeInterrupted: config.resumeInterrupted,
			questionTimeoutMs: config.questionTimeoutMs,
			permissionPolicy: config.permissionPolicy,
			workspaceDir: config.workspaceDir,
			engineCallTimeoutMs: config.engineCallTimeoutMs,
			maxStoredSessions: config.maxStoredSessions,
		},
		workspace: {
			workspaceDir: config.workspaceDir,
			stateDir: config.stateDir,
			workspaceGcIntervalMs: config.workspaceGcIntervalMs,
		},
		maxConcurrentSessions: config.maxConcurrentSessions,
		engineCallTimeoutMs: config.engineCallTimeoutMs,
		resumeInterrupted: config.resumeInterrupted,
	};
}
