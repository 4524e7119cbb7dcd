import type { EngineEvent } from "../../src/engine/events";
import { EventFeed } from "../../src/engine/feed";
import type { StoredEvent } from "../../src/events/catalogue";
import { systemClock } from "../../src/lib/clock";
import type { Session } from "../../src/sessions/session";
import type { Sidecar } from "../../src/sidecar";
import { SseParser } from "../../src/sse/parse";

/** Resolves when `check()` holds, re-checked each time `subscribe` signals a change; rejects after `timeoutMs`. */
function waitFor(
	check: () => boolean,
	subscribe: (changed: () => void) => () => void,
	what: string,
	timeoutMs: number,
): Promise<void> {
	if (check()) return Promise.resolve();
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			unsubscribe();
			reject(new Error(`${what}: not within ${timeoutMs} ms`));
		}, timeoutMs);
		const unsubscribe = subscribe(() => {
			if (!check()) return;
			clearTimeout(timer);
			unsubscribe();
			resolve();
		});
	});
}

/** A session's stored events as they are stored (those before included), and waits on them. */
export interface StoredWatch {
	readonly events: StoredEvent[];
	until(pred: (events: readonly StoredEvent[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
	stop(): void;
}

export async function watchStored(session: Session): Promise<StoredWatch> {
	const events: StoredEvent[] = [];
	const listeners = new Set<() => void>();
	const decoder = new TextDecoder();
	const add = (e: StoredEvent) => {
		if (events.some((x) => x.id === e.id)) return;
		events.push(e);
		events.sort((a, b) => a.id - b.id);
	};
	const unsubscribe = session.channel.subscribe({
		deliver(id, frame) {
			for (const f of new SseParser().push(decoder.decode(frame))) {
				add({ id, event: f.event, data: JSON.parse(f.data) } as StoredEvent);
			}
			for (const l of listeners) l();
		},
	});
	for (const e of await session.channel.log.readAll()) add(e);
	return {
		events,
		until: (pred, what, timeoutMs = 120_000) =>
			waitFor(
				() => pred(events),
				(changed) => {
					listeners.add(changed);
					return () => listeners.delete(changed);
				},
				what,
				timeoutMs,
			),
		stop: unsubscribe,
	};
}

/**
 * The engine's own `/event` feed, read by the test directly (not through the
 * sidecar or its proxy), to wait for what the engine did while the
 * sidecar's feed was down.
 */
export interface EngineWatch {
	readonly events: EngineEvent[];
	until(pred: (e: EngineEvent) => boolean, what: string, timeoutMs?: number): Promise<void>;
	close(): void;
}

export async function watchEngine(sidecar: Sidecar, workspaceDir: string): Promise<EngineWatch> {
	const c = sidecar.engine.connection();
	if (!c) throw new Error("the engine is not listening");
	const adapter = sidecar.engine.adapter;
	const feed = new EventFeed({
		url: adapter.feedUrl(c.url, workspaceDir),
		parse: adapter.feedReader(workspaceDir),
		authorization: c.authorization,
		idleLimitMs: 60_000,
		retryMs: 100,
		clock: systemClock,
	});
	const events: EngineEvent[] = [];
	const listeners = new Set<() => void>();
	let connected: () => void = () => {};
	const open = new Promise<void>((resolve) => {
		connected = resolve;
	});
	void (async () => {
		for await (const item of feed) {
			if (item.kind === "connected") connected();
			if (item.kind === "events") events.push(...item.events);
			for (const l of listeners) l();
		}
	})();
	await open;
	return {
		events,
		until: (pred, what, timeoutMs = 120_000) =>
			waitFor(
				() => events.some(pred),
				(changed) => {
					listeners.add(changed);
					return () => listeners.delete(changed);
				},
				what,
				timeoutMs,
			),
		close: () => feed.close(),
	};
}

/** Resolves with the reason of the engine's next loss. */
export function nextLoss(sidecar: Sidecar): Promise<string> {
	return new Promise((resolve) => {
		const off = sidecar.engine.onLost((reason) => {
			off();
			resolve(reason);
		});
	});
}

/** Resolves when the engine next becomes ready (after a loss). */
export function nextReady(sidecar: Sidecar): Promise<void> {
	return new Promise((resolve) => {
		const off = sidecar.engine.onReady(() => {
			off();
			resolve();
		});
	});
}
