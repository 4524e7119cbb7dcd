import type { Cancel, Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import type { Logger } from "../lib/log";
import type { KubernetesApi } from "./api";
import { buildEvent, type KubeEvent, type Lifecycle, type PodRef } from "./event";
import { buildSummary, type SessionBrief, summaryAnnotations } from "./summary";

export interface ReporterOptions {
	/** Resolves to the API client; calls wait for it. A rejection disables the reporter (logged). */
	readonly connect: () => Promise<KubernetesApi>;
	readonly pod: PodRef;
	/** The sessions as they are now (the annotation is rebuilt from this when it is sent). */
	readonly sessions: () => readonly SessionBrief[];
	readonly clock: Clock;
	readonly log: Logger;
	/** Events waiting to be sent at most; beyond it the oldest are dropped (default 100). */
	readonly maxQueuedEvents?: number;
	/** Delay before retrying a failed annotation patch, doubling up to 60 s (default 2000 ms). */
	readonly retryMs?: number;
}

/**
 * Records session lifecycle in Kubernetes: an Event on the pod per step and
 * a pod annotation summarising the sessions. Nothing here can affect a
 * session: `record` only queues (never throws, never waits); one worker sends
 * the queue in order with every call bounded by the client's timeout; the
 * queue is bounded (oldest dropped); annotation updates coalesce into one
 * patch of the latest summary. Failures are logged and dropped (a failed
 * annotation patch is retried with back-off, as it converges anyway).
 */
export class KubernetesReporter {
	private readonly queue: KubeEvent[] = [];
	private dropped = 0;
	private seq = 0;
	private summaryDirty = true;
	private working: Promise<void> | undefined;
	private api: KubernetesApi | undefined;
	private disabled = false;
	private stopped = false;
	private cancelRetry: Cancel | undefined;
	private retryDelay: number;
	private pod: PodRef;
	/** Calls made and failed so far, for logs and tests. */
	readonly stats = { events: 0, patches: 0, failures: 0, dropped: 0 };

	constructor(private readonly options: ReporterOptions) {
		this.pod = options.pod;
		this.retryDelay = options.retryMs ?? 2000;
		this.kick();
	}

	/** A lifecycle step: queue its Event and an annotation update. Never throws. */
	record(e: Lifecycle): void {
		if (this.stopped || this.disabled) return;
		try {
			const event = buildEvent(e, this.pod, this.options.clock.now(), this.seq++);
			if (event) {
				this.queue.push(event);
				const max = this.options.maxQueuedEvents ?? 100;
				while (this.queue.length > max) {
					this.queue.shift();
					this.dropped++;
					this.stats.dropped++;
				}
			}
			this.summaryDirty = true;
			this.kick();
		} catch (error) {
			this.options.log.warn({ err: String(error) }, "kubernetes reporter could not record a lifecycle step");
		}
	}

	private kick(): void {
		if (this.working || this.stopped || this.disabled) return;
		this.working = this.work().finally(() => {
			this.working = undefined;
			if (!this.stopped && !this.disabled && (this.queue.length > 0 || (this.summaryDirty && !this.cancelRetry)))
				this.kick();
		});
	}

	private async work(): Promise<void> {
		const api = await this.connected();
		if (!api) return;
		const log = this.options.log;
		if (this.dropped > 0) {
			log.warn({ dropped: this.dropped }, "kubernetes events dropped: the API server is not keeping up");
			this.dropped = 0;
		}
		const event = this.queue.shift();
		if (event) {
			try {
				await api.createEvent(event);
				this.stats.events++;
				log.debug({ reason: event.reason, name: event.metadata.name }, "kubernetes event recorded");
			} catch (error) {
				this.stats.failures++;
				log.warn({ err: describe(error), reason: event.reason }, "kubernetes event not recorded");
			}
			return;
		}
		if (!this.summaryDirty || this.cancelRetry) return;
		this.summaryDirty = false;
		const summary = buildSummary(this.options.sessions(), isoTime(this.options.clock.now()));
		try {
			await api.patchPodAnnotations(summaryAnnotations(summary));
			this.stats.patches++;
			log.debug({ counts: summary.counts }, "pod annotation updated");
			this.retryDelay = this.options.retryMs ?? 2000;
		} catch (error) {
			this.stats.failures++;
			log.warn({ err: describe(error) }, "pod annotation not updated");
			this.summaryDirty = true;
			this.scheduleRetry();
		}
	}

	private scheduleRetry(): void {
		if (this.stopped) return;
		const delay = this.retryDelay;
		this.retryDelay = Math.min(delay * 2, 60_000);
		this.cancelRetry = this.options.clock.setTimeout(() => {
			this.cancelRetry = undefined;
			this.kick();
		}, delay);
	}

	private async connected(): Promise<KubernetesApi | undefined> {
		if (this.api) return this.api;
		try {
			this.api = await this.options.connect();
		} catch (error) {
			this.disabled = true;
			this.queue.length = 0;
			this.options.log.error({ err: describe(error) }, "kubernetes reporter disabled: no API client");
			return undefined;
		}
		if (!this.pod.uid) {
			try {
				const uid = await this.api.readPodUid();
				if (uid) {
					this.pod = { ...this.pod, uid };
					for (const e of this.queue) e.involvedObject.uid = uid;
				}
			} catch (error) {
				this.options.log.warn(
					{ err: describe(error) },
					"pod uid unknown (set POD_UID from the downward API); kubectl describe pod may not list the events",
				);
			}
		}
		return this.api;
	}

	/**
	 * Stops reporting: sends what is queued for at most `graceMs` (default
	 * 2000), then aborts calls still in flight. Resolves without throwing.
	 */
	async stop(graceMs = 2000): Promise<void> {
		if (this.stopped) return;
		this.cancelRetry?.();
		this.cancelRetry = undefined;
		let cancelGrace: Cancel | undefined;
		const grace = new Promise<void>((resolve) => {
			cancelGrace = this.options.clock.setTimeout(resolve, graceMs);
		});
		const drained = (async () => {
			while (this.working && !this.disabled) await this.working;
		})();
		await Promise.race([drained, grace]);
		cancelGrace?.();
		this.stopped = true;
		this.queue.length = 0;
		this.api?.close();
		await this.working?.catch(() => {});
	}
}

/** An error as one log-friendly line (API errors carry the HTTP status and body). */
function describe(error: unknown): string {
	if (error && typeof error === "object" && "code" in error) {
		const e = error as { code?: unknown; body?: unknown; message?: unknown };
		if (typeof e.code === "number") return `HTTP ${e.code}: ${String(e.body ?? e.message).slice(0, 300)}`;
	}
	return error instanceof Error ? error.message : String(error);
}
