import type { ErrorCode, LoggedEvent } from "../events/catalogue";
import type { ProviderSignals } from "./failure";
import type { RunEnd } from "./lifecycle";

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
}

export interface RunSettings {
	readonly sessionTimeoutMs: number;
	readonly maxRetries: number;
	readonly resumeInterrupted: boolean;
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
	/** The engine finished the run; what it changed is being read before it ends (`engineEnded`). */
	| { readonly type: "engineFinished" }
	/** The engine ended the run (its translated outcome). */
	| { readonly type: "engineEnded"; readonly end: RunEnd }
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
	/** The run was set aside (engine gone): the translator ignores the rest of it. */
	| { readonly type: "suspend" }
	| { readonly type: "armTimer"; readonly run: number; readonly ms: number }
	| { readonly type: "cancelTimer" }
	/** Abort the run in the engine. */
	| { readonly type: "abort" }
	/** The run ends: final `status` and terminal event, record persisted, observers told. */
	| { readonly type: "end"; readonly end: RunEnd }
	/** Forget the session's API key. */
	| { readonly type: "dropKey" };

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
};
