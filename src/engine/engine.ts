import type { EngineEvent } from "./events";

/**
 * The engine port: what the sessions layer needs from an engine, whatever its
 * generation. `Engine` is what the sessions call (the supervisor implements
 * it); behind it, one adapter per engine generation (adapter.ts) speaks that
 * generation's HTTP API and turns its event feed into `EngineEvent`s.
 *
 * The event vocabulary (events.ts) is the engine-neutral one the sessions
 * read: `session.created|updated|status|idle|error`, `message.updated|removed`,
 * `message.part.updated|delta|removed`, `todo.updated`, `permission.asked`,
 * `question.asked`, each with the `properties` documented there. Its names
 * and shapes are those of OpenCode 1.x, the first engine the sidecar drove, so
 * the 1.x adapter passes frames through; another generation's adapter maps its
 * frames onto them. What is per generation: the routes, the request bodies,
 * the feed's framing and event names, tool names and arguments (all in the
 * adapter). What is shared: everything the sessions do with the vocabulary
 * (translate.ts, tool-part.ts, reconcile.ts, outcome.ts), because the
 * contract's events must not depend on the engine behind them.
 */

/**
 * How a session's runs are set up. 1.x takes these with every prompt; 2.x only when the
 * session is created (it has no per-prompt model, tools, agent or system prompt). The sessions
 * give them at both (they do not change during a session), and each adapter uses them where
 * its generation takes them.
 */
export interface SessionSettings {
	readonly system?: string;
	/** Switches named by the contract's (1.x) tool ids (engine/tools.ts); an adapter maps them to its engine's tools. */
	readonly tools: Record<string, boolean>;
	readonly model: { readonly providerID: string; readonly modelID: string };
	/** The engine agent that runs the prompt (default: the engine's default agent, `build`). */
	readonly agent?: string;
}

/** The prompt of one run. */
export interface PromptInput extends SessionSettings {
	readonly text: string;
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

/** What the engine holds about one session, read for reconciliation (see sessions/reconcile.ts). */
export interface EngineSessionState {
	/** `idle`, `busy` or `retry`; `idle` when the engine does not list the session. */
	readonly status: string;
	/** `{info, parts}` per message, oldest first. */
	readonly messages: readonly unknown[];
	readonly todos: readonly unknown[];
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
	createSession(title: string, settings: SessionSettings): Promise<string>;
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
