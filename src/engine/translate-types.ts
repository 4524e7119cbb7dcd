import type { LoggedEvent, Usage } from "../events/catalogue";
import type { FailedOutcome } from "./outcome";

/**
 * What the engine says about the session's work, for the run machine to decide on (whether a
 * run is in progress, whether it saw the engine busy, whether an idle ends it).
 */
export type EngineSignal =
	| { readonly type: "busy" }
	/**
	 * The engine is idle. After a reconciliation (see engine/reconcile.ts) the idle may be one sent
	 * before the feed came back: `unsettled` while the run's answer is not stored yet (the engine
	 * can report idle before it stores the answer, and again after), `error` if it was stored with one.
	 */
	| { readonly type: "idle"; readonly unsettled?: boolean; readonly error?: FailedOutcome }
	| { readonly type: "error"; readonly outcome: FailedOutcome };

export interface TranslateResult {
	readonly events: LoggedEvent[];
	readonly signal?: EngineSignal;
}

export interface TranslatorOptions {
	/** Absolute workspace path, to make changed paths relative. */
	readonly workspaceDir: string;
	/** Scrubs secrets out of any text that came from outside (provider errors). */
	readonly redact: (text: string) => string;
	/** What earlier runs of this session already recorded (its record after a restart; `RunCarry` in between). */
	readonly initial?: {
		readonly files: readonly string[];
		readonly usage?: Usage;
	} & Partial<RunCarry>;
}

/**
 * What a session keeps of its translator between runs (issue 13: an ended session holds no
 * translator); the next run's translator starts from it.
 */
export interface RunCarry {
	/** Workspace-relative paths the session's own tools changed, in order of first change. */
	readonly files: readonly string[];
	/** Engine messages of ended runs: their late events must not reach a follow-up. */
	readonly closed: readonly string[];
	/** Todo items already announced as done (the engine's todo list outlives a run). */
	readonly todosDone: readonly string[];
	readonly progress?: number;
}
