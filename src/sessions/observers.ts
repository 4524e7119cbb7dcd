import type { Logger } from "../lib/log";
import type { SessionStatus } from "./schemas";
import type { Session } from "./session";

/** A session's run started or ended; for observers such as the Kubernetes reporter. */
export interface LifecycleEvent {
	readonly session_id: string;
	readonly status: SessionStatus["status"];
	readonly code?: string;
	readonly message?: string;
	readonly at: string;
}

/** Who is told when runs start and end. Listener errors are logged and ignored. */
export class LifecycleObservers {
	private readonly listeners = new Set<(e: LifecycleEvent) => void>();

	constructor(private readonly log: Logger) {}

	add(listener: (e: LifecycleEvent) => void): () => void {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	}

	announce(session: Session): void {
		const r = session.record;
		const event: LifecycleEvent = {
			session_id: r.session_id,
			status: r.status,
			...(r.error ? { code: r.error.code, message: r.error.message } : {}),
			at: r.updated_at,
		};
		for (const l of this.listeners) {
			try {
				l(event);
			} catch (error) {
				this.log.warn({ err: String(error) }, "lifecycle listener failed");
			}
		}
	}
}
