import type { PermissionPolicy } from "../config/parse";
import type { FailedOutcome } from "../engine/outcome";
import type { ErrorCode, LoggedEvent } from "../events/catalogue";
import type { ProviderSignals } from "./failure";
import type { RunEnd } from "./lifecycle";
import type { PermissionAsk } from "./permission-policy";
import type { Question } from "./questions";

/**
 * Where a session's run stands:
 * - `idle`: no run in progress (none yet, or the last one ended; the record says how);
 * - `launching`: the run's prompt is on its way to the engine, which has not taken it yet;
 * - `running`: the engine has the prompt; SESSION_TIMEOUT is armed;
 * - `awaiting`: the engine (or the sidecar) went away under the run, which waits to resume.
 */
export type RunPhase = "idle" | "launching" | "running" | "awaiting";

/** Everything that is true of one session's run: the one owner of its state (see run-machine.ts). */
export interface RunState {
	readonly phase: RunPhase;
	/** Runs begun in this process; effects and late results name the run they belong to. */
	readonly run: number;
	/** The prompt the engine has not taken yet (launching, or awaiting a relaunch). */
	readonly prompt?: string;
	/** Follow-up prompts waiting for the current run to complete. */
	readonly queue: readonly string[];
	/** Provider retries the engine made in the current run. */
	readonly retries: number;
	/** The session's API key is held in memory (see `keyRule` in run-machine.ts). */
	readonly key: boolean;
	readonly signals: ProviderSignals;
	/** SESSION_TIMEOUT is armed for the current run. */
	readonly timer: boolean;
	/** The sidecar is stopping: nothing more happens to the run in this process. */
	readonly closed: boolean;
	/** The engine's reports count for this run (busy, idle, errors, retries, todos): from its start until it ends or is set aside. */
	readonly listening: boolean;
	/** The engine was seen busy in this run: its next idle ends the run. */
	readonly busy: boolean;
	/** The engine completed the run; what it changed is being read before it ends (`engineEnded`). */
	readonly finishing: boolean;
	/** Questions of the agent waiting for an answer (a client's, or their default at QUESTION_TIMEOUT). */
	readonly questions: readonly PendingQuestion[];
	/** Permission and question ids handled in this run: a reconciliation may announce one again. */
	readonly handled: readonly string[];
}

/** A question the agent asked (engine `question.asked`) that nobody answered yet. */
export interface PendingQuestion {
	readonly id: string;
	readonly questions: Question[];
	/** Given at QUESTION_TIMEOUT: per question, the recommended option, else the first. */
	readonly defaults: string[][];
}

export interface RunSettings {
	readonly sessionTimeoutMs: number;
	readonly maxRetries: number;
	readonly resumeInterrupted: boolean;
	readonly questionTimeoutMs: number;
	readonly permissionPolicy: PermissionPolicy;
	readonly workspaceDir: string;
}

/** Everything that can happen to a run. */
export type RunInput =
	/** A run starts with this prompt (create, or a follow-up after a completed run); its key is at hand. */
	| { readonly type: "start"; readonly prompt: string }
	/** A follow-up message while a run is in progress: it waits for that run to complete. */
	| { readonly type: "followUp"; readonly prompt: string }
	/** The engine took the prompt of run `run`. */
	| { readonly type: "launched"; readonly run: number }
	/** The engine did not take it: it went away (the run waits for the next engine), or refused it. */
	| { readonly type: "launchFailed"; readonly run: number; readonly wentAway: boolean; readonly reason: string }
	/** The engine reports the session busy (translated). */
	| { readonly type: "engineBusy" }
	/**
	 * The engine reports the session idle (translated). `unsettled`: after a reconciliation, the
	 * run's answer is not stored yet (a later idle ends it); `error`: the answer was stored with it.
	 */
	| { readonly type: "engineIdle"; readonly unsettled?: boolean; readonly error?: FailedOutcome }
	/** The engine reports an error of the session (translated). */
	| { readonly type: "engineError"; readonly outcome: FailedOutcome }
	/** What completed run `run` changed has been read (after `finish`): it ends so. */
	| { readonly type: "engineEnded"; readonly run: number; readonly end: RunEnd }
	/** A reconciliation reads what the engine did for a run set aside (`reopen`) and is done (`setAside`). */
	| { readonly type: "reopen" }
	| { readonly type: "setAside" }
	/** The agent asks for a permission (engine `permission.asked`): PERMISSION_POLICY answers it at once. */
	| { readonly type: "permissionAsked"; readonly ask: PermissionAsk }
	/** The agent asks questions (engine `question.asked`). */
	| { readonly type: "questionAsked"; readonly id: string; readonly questions: Question[] }
	/** A client answers a question (POST /sessions/{id}/questions/{question_id}). */
	| { readonly type: "questionAnswered"; readonly id: string; readonly answers: string[][] }
	/** QUESTION_TIMEOUT of a question expired. */
	| { readonly type: "questionTimedOut"; readonly id: string }
	/** The engine retries a provider error (translated), of its own accord. */
	| {
			readonly type: "retry";
			readonly code: ErrorCode;
			readonly error: string;
			readonly retryAfter?: number;
	  }
	/** The gateway: the provider answered with this HTTP status. */
	| { readonly type: "upstream"; readonly status: number }
	/** The gateway: the provider sent nothing for PROVIDER_IDLE_TIMEOUT. */
	| { readonly type: "stalled"; readonly message: string }
	| { readonly type: "engineLost"; readonly reason: string }
	| { readonly type: "engineReady" }
	/** The sidecar restarted while the run was in progress; `fetching`: its key is asked of CREDENTIALS_URL. */
	| { readonly type: "restarted"; readonly fetching: boolean }
	/** The key of a run waiting after a restart arrived from CREDENTIALS_URL. */
	| { readonly type: "keyFetched"; readonly engineReady: boolean }
	/** CREDENTIALS_URL did not give a key the run needs (after a restart, after a 401). */
	| { readonly type: "keyLost"; readonly error: string }
	| { readonly type: "cancel" }
	/** SESSION_TIMEOUT of run `run` expired. */
	| { readonly type: "timeout"; readonly run: number }
	/** The ended session is removed (MAX_STORED_SESSIONS). */
	| { readonly type: "prune" }
	/** The sidecar stops. */
	| { readonly type: "shutdown" };

/** What the machine asks the executor to do, in order. Values only. */
export type RunEffect =
	/** The record says `running`, the stream gets `status: running`, observers are told. */
	| { readonly type: "begin" }
	/** Create the engine session if there is none, and send the prompt (after the reducer returns). */
	| { readonly type: "launch"; readonly run: number; readonly prompt: string }
	/** Store and send one event. */
	| { readonly type: "store"; readonly event: LoggedEvent }
	| { readonly type: "armTimer"; readonly run: number; readonly ms: number }
	| { readonly type: "cancelTimer" }
	/** Abort the run in the engine. */
	| { readonly type: "abort" }
	/** The run ends: final `status` and terminal event, record persisted, observers told. */
	| { readonly type: "end"; readonly end: RunEnd }
	/** Forget the session's API key. */
	| { readonly type: "dropKey" }
	/** The engine completed run `run`: read what it changed in the workspace, then give `engineEnded`. */
	| { readonly type: "finish"; readonly run: number }
	/** Answer a permission request in the engine (a rejection says why, so the agent continues another way). */
	| {
			readonly type: "replyPermission";
			readonly id: string;
			readonly reply: "once" | "reject";
			readonly message?: string;
	  }
	/** Answer a question in the engine (`by` the client that answered, or its timeout). */
	| {
			readonly type: "replyQuestion";
			readonly id: string;
			readonly answers: string[][];
			readonly by: "client" | "timeout";
	  }
	/** A client's answer is refused: no such open question (404), or `problem` with the answers (400). */
	| { readonly type: "refuseAnswer"; readonly id: string; readonly problem?: string }
	| { readonly type: "armQuestionTimer"; readonly id: string; readonly ms: number }
	| { readonly type: "cancelQuestionTimer"; readonly id: string };

export interface RunTransition {
	readonly state: RunState;
	readonly effects: readonly RunEffect[];
}

export const INITIAL_RUN: RunState = {
	phase: "idle",
	run: 0,
	queue: [],
	retries: 0,
	key: false,
	signals: {},
	timer: false,
	closed: false,
	listening: false,
	busy: false,
	finishing: false,
	questions: [],
	handled: [],
};
