import type { Clock } from "../lib/clock";
import type { EngineAgent, EngineSessionState, PromptInput, SessionSettings } from "./engine";
import type { EngineEvent } from "./events";
import type { EngineGeneration } from "./generation";

/**
 * One engine process's API, as one generation's adapter speaks it: every
 * call of the `Engine` port that goes to the engine. Every call is bounded by
 * the engine call timeout (bounded-call.ts).
 */
export interface EngineApi {
	/** Where the process listens and the `authorization` header it wants. */
	readonly base: string;
	readonly authorization: string;
	/** True for a healthy answer within `ms`; false otherwise (never throws). */
	health(ms: number): Promise<boolean>;
	/** `settings`: what the generation takes at creation (2.x: model, agent, tools, system prompt). */
	createSession(title: string, settings: SessionSettings, timeoutMs?: number): Promise<string>;
	/** `input`: the text, and the settings again for a generation that takes them per prompt (1.x). */
	/**
	 * `timeoutMs` (here and on `createSession`): a bound other than the call timeout, for the warm-up,
	 * whose calls do the engine's lazy set-up of the workspace (2.x does it inside these calls).
	 */
	prompt(engineSessionId: string, input: PromptInput, timeoutMs?: number): Promise<void>;
	abort(engineSessionId: string): Promise<void>;
	deleteSession(engineSessionId: string): Promise<void>;
	agents(): Promise<EngineAgent[]>;
	parentOf(engineSessionId: string): Promise<string | undefined>;
	messages(engineSessionId: string): Promise<unknown[]>;
	sessionState(engineSessionId: string): Promise<EngineSessionState>;
	pendingRequests(): Promise<{ permissions: unknown[]; questions: unknown[] }>;
	replyPermission(requestId: string, reply: "once" | "always" | "reject", message?: string): Promise<void>;
	replyQuestion(requestId: string, answers: string[][]): Promise<void>;
}

/** One frame of the live feed, as the adapter reads it. */
export type FeedFrame =
	/** The engine says the connection is established (the feed counts as connected from here). */
	| { readonly kind: "connected" }
	/** Events in the port's vocabulary (events.ts): one engine frame may stand for several. */
	| { readonly kind: "event"; readonly events: readonly EngineEvent[] }
	/** Anything else: heartbeats, server notices, events the sessions do not read. */
	| undefined;

/** Where an adapter's client lives: one engine process. */
export interface ProcessAddress {
	readonly base: string;
	readonly authorization: string;
	/** The workspace: the engine's project directory. */
	readonly directory: string;
	readonly clock: Clock;
	/** ENGINE_CALL_TIMEOUT. */
	readonly callTimeoutMs: number;
}

/**
 * Everything that differs between engine generations, in one place: how to
 * serve, how to call, how to read the feed. The supervisor (process,
 * lifecycle, watchdog, warm-up, resync) and the sessions (translation,
 * reconciliation) are shared.
 */
export interface EngineAdapter {
	readonly generation: EngineGeneration;
	/** Arguments after the binary that start a foreground server on 127.0.0.1, any free port. */
	readonly serveArgs: readonly string[];
	/** The health call, for the watchdog's log lines. */
	readonly healthCall: string;
	/** The client of one process. */
	client(address: ProcessAddress): EngineApi;
	/** The URL of the live event feed of the workspace. */
	feedUrl(base: string, directory: string): string;
	/**
	 * A reader of one process's feed for the workspace `directory`: one SSE `data` payload at a
	 * time, in order (a reader may keep state between frames, e.g. a tool call's name).
	 */
	feedReader(directory: string): (data: string) => FeedFrame;
}
