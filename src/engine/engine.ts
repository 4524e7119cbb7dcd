import type { EngineSessionState } from "./client";
import type { EngineEvent } from "./events";

/** The prompt of one run. */
export interface PromptInput {
	readonly text: string;
	readonly system?: string;
	readonly tools: Record<string, boolean>;
	readonly model: { readonly providerID: string; readonly modelID: string };
	/** The engine agent that runs the prompt (default: the engine's default agent, `build`). */
	readonly agent?: string;
}

/** An agent the engine offers (`GET /agent`). */
export interface EngineAgent {
	readonly name: string;
	readonly mode: "subagent" | "primary" | "all";
	readonly hidden?: boolean;
	readonly description?: string;
	/** The agent's permission rules, as the engine lists them. */
	readonly permission?: unknown;
}

/** What the sessions need from the engine; `EngineSupervisor` is the real one. */
export interface Engine {
	/** True when the engine answers and its event stream is connected. */
	readonly ready: boolean;
	/** Why it is not ready, for `/ready`. */
	readonly notReadyReason: string | undefined;
	/**
	 * Resolves once a new engine process has run its warm-up prompt (its lazy
	 * project set-up); prompts sent before would wait for it inside the engine
	 * anyway. Bounded by the engine's start timeout.
	 */
	whenWarm(): Promise<void>;
	/** Resolves once the engine is ready (at once if it is): e.g. its event feed has reconnected. */
	whenReady(): Promise<void>;
	/** Asks the engine whether it is healthy; false when it does not answer within `timeoutMs`. */
	healthy(timeoutMs?: number): Promise<boolean>;
	createSession(title: string): Promise<string>;
	prompt(engineSessionId: string, input: PromptInput): Promise<void>;
	abort(engineSessionId: string): Promise<void>;
	/** Deletes a session (and its sub-agent sessions) with its messages from the engine's database. */
	deleteSession(engineSessionId: string): Promise<void>;
	/** The agents of the workspace: the engine's own and those in `.opencode/agent/`. */
	agents(): Promise<EngineAgent[]>;
	/** The parent of a sub-agent session, if it has one. */
	parentOf(engineSessionId: string): Promise<string | undefined>;
	replyPermission(requestId: string, reply: "once" | "always" | "reject", message?: string): Promise<void>;
	replyQuestion(requestId: string, answers: string[][]): Promise<void>;
	/** The session's messages with their parts, as the engine stores them. */
	messages(engineSessionId: string): Promise<unknown[]>;
	/** Status, messages and todos of one session (for reconciliation). */
	sessionState(engineSessionId: string): Promise<EngineSessionState>;
	/** Permission requests and questions the engine waits on, across sessions (for reconciliation). */
	pendingRequests(): Promise<{ permissions: unknown[]; questions: unknown[] }>;
	/**
	 * Every event of the engine's `/event` stream, in order, in batches: the
	 * events that arrived together (one network read), so a listener can
	 * handle them as one.
	 */
	onEvents(listener: (events: readonly EngineEvent[]) => void): () => void;
	/** Told each time the engine (first or restarted) becomes usable. */
	onReady(listener: () => void): () => void;
	/** Told when the engine process is lost (runs in it are gone); a new one is being started. */
	onLost(listener: (reason: string) => void): () => void;
	/**
	 * Told each time the event feed (re)connects, before `onReady` and before
	 * any live event of the new connection is handed on: events the engine
	 * sent while the feed was down are recovered from its state here.
	 */
	onResync(listener: () => Promise<void>): () => void;
}
