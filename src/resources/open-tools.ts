import type { StoredEvent } from "../events/catalogue";

/**
 * The tool calls in progress per session, from the events stored (a
 * `tool_call` opens one, its `tool_result` or the run's end closes it): whose
 * tool a memory warning is about.
 */
export class OpenTools {
	private readonly open = new Map<string, Set<string>>();

	stored(sessionId: string, e: StoredEvent): void {
		if (e.event === "tool_call") {
			const calls = this.open.get(sessionId) ?? new Set<string>();
			calls.add(e.data.call_id);
			this.open.set(sessionId, calls);
		} else if (e.event === "tool_result") this.open.get(sessionId)?.delete(e.data.call_id);
		else if (e.event === "complete" || (e.event === "error" && e.data.fatal)) this.open.delete(sessionId);
	}

	/** Sessions with a tool call in progress. */
	sessions(): string[] {
		return [...this.open].filter(([, calls]) => calls.size > 0).map(([id]) => id);
	}
}
