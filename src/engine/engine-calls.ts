import type { EngineApi } from "./adapter";
import type { EngineAgent, EngineSessionState, PromptInput, SessionSettings } from "./engine";
import type { EngineEvent } from "./events";

/**
 * The engine's calls and notifications as the sessions see them (the
 * `Engine` interface): each call goes to the current process's client
 * (the adapter's `EngineApi`), and listeners are kept here; the supervisor supplies the
 * client and tells the listeners.
 */
export abstract class EngineCalls {
	protected readonly eventListeners = new Set<(events: readonly EngineEvent[]) => void>();
	protected readonly lostListeners = new Set<(reason: string) => void>();
	protected readonly readyListeners = new Set<() => void>();
	protected readonly resyncListeners = new Set<() => Promise<void>>();

	/** The client of the engine process in use; throws when there is none usable. */
	protected abstract api(): EngineApi;

	createSession(title: string, settings: SessionSettings): Promise<string> {
		return this.api().createSession(title, settings);
	}

	prompt(engineSessionId: string, input: PromptInput): Promise<void> {
		return this.api().prompt(engineSessionId, input);
	}

	abort(engineSessionId: string): Promise<void> {
		return this.api().abort(engineSessionId);
	}

	deleteSession(engineSessionId: string): Promise<void> {
		return this.api().deleteSession(engineSessionId);
	}

	agents(): Promise<EngineAgent[]> {
		return this.api().agents();
	}

	parentOf(engineSessionId: string): Promise<string | undefined> {
		return this.api().parentOf(engineSessionId);
	}

	messages(engineSessionId: string): Promise<unknown[]> {
		return this.api().messages(engineSessionId);
	}

	sessionState(engineSessionId: string): Promise<EngineSessionState> {
		return this.api().sessionState(engineSessionId);
	}

	pendingRequests(): Promise<{ permissions: unknown[]; questions: unknown[] }> {
		return this.api().pendingRequests();
	}

	replyPermission(requestId: string, reply: "once" | "always" | "reject", message?: string): Promise<void> {
		return this.api().replyPermission(requestId, reply, message);
	}

	replyQuestion(requestId: string, answers: string[][]): Promise<void> {
		return this.api().replyQuestion(requestId, answers);
	}

	onEvents(listener: (events: readonly EngineEvent[]) => void): () => void {
		this.eventListeners.add(listener);
		return () => this.eventListeners.delete(listener);
	}

	onReady(listener: () => void): () => void {
		this.readyListeners.add(listener);
		return () => this.readyListeners.delete(listener);
	}

	onLost(listener: (reason: string) => void): () => void {
		this.lostListeners.add(listener);
		return () => this.lostListeners.delete(listener);
	}

	onResync(listener: () => Promise<void>): () => void {
		this.resyncListeners.add(listener);
		return () => this.resyncListeners.delete(listener);
	}
}
