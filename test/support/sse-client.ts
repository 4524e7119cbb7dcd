import { EventSource } from "eventsource";
import { SseParser } from "../../src/sse/parse";
import { checkEvent } from "./conformance";

/** A received SSE event with its payload parsed. */
export interface Received {
	readonly event: string;
	readonly id: number | undefined;
	// biome-ignore lint/suspicious/noExplicitAny: payloads are checked field by field in tests.
	readonly data: any;
}

const TERMINAL = (e: Received) => e.event === "complete" || (e.event === "error" && e.data?.fatal === true);

export const toReceived = (e: { event: string; data: string; id: string | undefined }): Received => {
	const data = JSON.parse(e.data);
	checkEvent(e.event, data);
	return { event: e.event, id: e.id === undefined || e.id === "" ? undefined : Number(e.id), data };
};

export interface RawStream {
	readonly status: number;
	readonly headers: Headers;
	/** Events received until the server closed the stream (or `until` matched). */
	readonly events: Received[];
	readonly text: string;
}

/**
 * Reads a stream with plain fetch until the server ends it, `until` matches,
 * or `signal` aborts; returns exactly what arrived.
 */
export async function readStream(
	url: string,
	init: {
		headers?: Record<string, string>;
		until?: (e: Received, all: Received[]) => boolean;
		signal?: AbortSignal;
	} = {},
): Promise<RawStream> {
	const controller = new AbortController();
	init.signal?.addEventListener("abort", () => controller.abort());
	const res = await fetch(url, {
		headers: { accept: "text/event-stream", ...init.headers },
		signal: controller.signal,
	});
	const events: Received[] = [];
	let text = "";
	if (res.status !== 200 || !res.body)
		return {
			status: res.status,
			headers: res.headers,
			events,
			text: await res.text(),
		};
	const parser = new SseParser();
	const decoder = new TextDecoder();
	try {
		for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
			const s = decoder.decode(chunk, { stream: true });
			text += s;
			for (const e of parser.push(s)) {
				const r = toReceived(e);
				events.push(r);
				if (init.until?.(r, events)) {
					controller.abort();
					return { status: res.status, headers: res.headers, events, text };
				}
			}
		}
	} catch (error) {
		if (!controller.signal.aborted) throw error;
	}
	return { status: res.status, headers: res.headers, events, text };
}

/**
 * Follows a session with a real EventSource (as a browser or the backend's
 * proxy would), reconnecting as EventSource does, until the terminal event.
 */
export function followWithEventSource(url: string, timeoutMs = 60_000): Promise<Received[]> {
	return new Promise((resolve, reject) => {
		const events: Received[] = [];
		const es = new EventSource(url);
		const timer = setTimeout(() => {
			es.close();
			reject(new Error(`no terminal event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(",")}`));
		}, timeoutMs);
		const on = (name: string) =>
			es.addEventListener(name, (m) => {
				const data = JSON.parse(m.data);
				try {
					checkEvent(name, data);
				} catch (error) {
					// Thrown in a listener it would only drop the event: fail the follow instead.
					clearTimeout(timer);
					es.close();
					reject(error);
					return;
				}
				const r: Received = { event: name, id: m.lastEventId ? Number(m.lastEventId) : undefined, data };
				events.push(r);
				if (TERMINAL(r)) {
					clearTimeout(timer);
					es.close();
					resolve(events);
				}
			});
		for (const name of ["output", "tool_call", "tool_result", "status", "error", "complete", "heartbeat"]) on(name);
	});
}

export const isTerminalEvent = TERMINAL;
