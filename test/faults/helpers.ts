import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { StoredEvent } from "../../src/events/catalogue";
import { decodeFrame } from "../../src/events/record";
import { SseParser } from "../../src/sse/parse";
import { type Received, toReceived } from "../support/sse-client";

/**
 * Resolves once `check` holds, polling every `everyMs`: only for conditions
 * no event announces (a socket closed by the kernel, a counter).
 */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000, everyMs = 10): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!check()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, everyMs));
	}
}

/**
 * Reads an SSE response (in process or over fetch) until the server ends it
 * or `until` holds (then cancels it). Heartbeats are kept; filter them out.
 */
export async function readSse(
	res: Response,
	until?: (e: Received, all: Received[]) => boolean,
): Promise<{ events: Received[]; ended: "closed" | "until" | "error" }> {
	const events: Received[] = [];
	if (!res.body) return { events, ended: "closed" };
	const reader = res.body.getReader();
	const parser = new SseParser();
	const decoder = new TextDecoder();
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) return { events, ended: "closed" };
			const text = typeof value === "string" ? value : decoder.decode(value as Uint8Array, { stream: true });
			for (const e of parser.push(text)) {
				const r = toReceived(e);
				events.push(r);
				if (until?.(r, events)) {
					await reader.cancel();
					return { events, ended: "until" };
				}
			}
		}
	} catch {
		return { events, ended: "error" };
	}
}

/** The events a session stored, read straight from its log file. */
export function storedEvents(stateDir: string, sessionId: string): StoredEvent[] {
	const text = readFileSync(join(stateDir, "sessions", sessionId, "events.log"), "utf8");
	return text
		.split("\n\n")
		.filter((l) => l !== "")
		.map((l) => {
			const e = decodeFrame(l);
			if (!e) throw new Error(`unreadable record in ${sessionId}: ${l.slice(0, 80)}`);
			return e;
		});
}

/**
 * Stored events only, as comparable plain values. Heartbeats have no id line,
 * though a parser reports the last id seen for them (as EventSource does).
 */
export const withIds = (events: readonly Received[]) =>
	events
		.filter((e) => e.id !== undefined && e.event !== "heartbeat")
		.map((e) => ({ id: e.id, event: e.event, data: e.data }));

export const asReceived = (events: readonly StoredEvent[]): ReturnType<typeof withIds> =>
	events.map((e) => ({ id: e.id as number | undefined, event: e.event as string, data: e.data as unknown }));

/** `{a: 3, b: 1}` from a list of keys. */
export function histogram(keys: readonly (string | number)[]): Record<string, number> {
	const out: Record<string, number> = {};
	for (const k of keys) out[String(k)] = (out[String(k)] ?? 0) + 1;
	return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(
	items: readonly T[],
	limit: number,
	fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
	const out: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		for (;;) {
			const i = next++;
			if (i >= items.length) return;
			out[i] = await fn(items[i] as T, i);
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	return out;
}
