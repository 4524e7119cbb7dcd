import { SessionNotFound } from "../http/errors";
import type { Session } from "./session";

/** The sessions this process knows, by our id and by engine session id (sub-agents included). */
export class SessionRegistry {
	private readonly sessions = new Map<string, Session>();
	private readonly byEngine = new Map<string, Session>();

	add(session: Session): void {
		this.sessions.set(session.id, session);
		const engineId = session.record.engine_session_id;
		if (engineId) this.byEngine.set(engineId, session);
	}

	find(id: string): Session | undefined {
		return this.sessions.get(id);
	}

	get(id: string): Session {
		const s = this.sessions.get(id);
		if (!s) throw new SessionNotFound();
		return s;
	}

	/** The session an engine session (or one of its sub-agents) belongs to. */
	forEngine(engineSessionId: string): Session | undefined {
		return this.byEngine.get(engineSessionId);
	}

	bindEngine(engineSessionId: string, session: Session): void {
		this.byEngine.set(engineSessionId, session);
	}

	all(): IterableIterator<Session> {
		return this.sessions.values();
	}

	/** Every session, newest first. */
	list(): Session[] {
		return [...this.sessions.values()].sort((a, b) => b.record.created_at.localeCompare(a.record.created_at));
	}

	get runningCount(): number {
		let n = 0;
		for (const s of this.sessions.values()) if (!s.ended) n++;
		return n;
	}

	/** Removes the oldest ended sessions beyond `keep`; returns them. */
	prune(keep: number): Session[] {
		const ended = [...this.sessions.values()].filter((s) => s.ended);
		const excess = ended.length - keep;
		if (excess <= 0) return [];
		ended.sort((a, b) => (a.record.ended_at ?? "").localeCompare(b.record.ended_at ?? ""));
		const removed = ended.slice(0, excess);
		for (const s of removed) {
			this.sessions.delete(s.id);
			for (const [k, v] of this.byEngine) if (v === s) this.byEngine.delete(k);
		}
		return removed;
	}
}
