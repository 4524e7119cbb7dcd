import { type SessionCredentials, scrub } from "./credentials";

/**
 * The one holder of the sessions' keys (with each session's call parameters), in memory only.
 * Made at the composition root and passed in at construction: the sessions layer writes through
 * it (a run starts with its key, a key is renewed or re-sent, the run machine drops it) and the
 * gateway and the redaction of outside text read it. Nothing else keeps a key.
 */
export class KeyRing {
	private readonly held = new Map<string, SessionCredentials>();

	/** The credentials of a session, while its key is held. */
	get(sessionId: string): SessionCredentials | undefined {
		return this.held.get(sessionId);
	}

	has(sessionId: string): boolean {
		return this.held.has(sessionId);
	}

	/** Holds a session's credentials (replacing any it had). */
	hold(credentials: SessionCredentials): void {
		this.held.set(credentials.sessionId, credentials);
	}

	/** A new key for a session whose credentials are held (re-sent by a follow-up, renewed after a 401); false if none are. */
	rotate(sessionId: string, apiKey: string): boolean {
		const current = this.held.get(sessionId);
		if (!current) return false;
		this.held.set(sessionId, { ...current, apiKey });
		return true;
	}

	/** Lets a session's key go (the run machine's `dropKey`). */
	drop(sessionId: string): void {
		this.held.delete(sessionId);
	}

	/** Removes every key held from a text that came from outside. */
	redact(text: string): string {
		let out = text;
		for (const c of this.held.values()) out = scrub(out, c.apiKey);
		return out;
	}

	/** How many keys are held (for tests and metrics). */
	get size(): number {
		return this.held.size;
	}
}
