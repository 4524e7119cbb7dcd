import { type ParsedEvent, SseParser } from "../../src/sse/parse";
import { now } from "./clock";

/** A stream being recorded: ends when the server closes it or `close()` is called. */
export interface Recording {
	/** Resolves when the stream ended, either way. */
	readonly done: Promise<void>;
	close(): void;
	/** Every event received so far, each with the time its chunk arrived (bench clock). */
	events(): { event: ParsedEvent; at: number }[];
}

/**
 * Records an SSE stream: each chunk is stamped and kept as bytes when it
 * arrives, and parsed (with the sidecar's own parser) only when asked. A
 * subscriber that parsed as it read would delay the other subscribers that
 * share its process, and so their timestamps.
 */
export function record(url: string, headers: Record<string, string>): Recording {
	const abort = new AbortController();
	const chunks: { at: number; bytes: Uint8Array }[] = [];
	const done = (async () => {
		try {
			const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal });
			if (!res.body) return;
			for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push({ at: now(), bytes });
		} catch (error) {
			if (!abort.signal.aborted) throw error;
		}
	})();
	done.catch(() => {});
	return {
		done,
		close: () => abort.abort(),
		events() {
			const parser = new SseParser();
			const decoder = new TextDecoder();
			const out: { event: ParsedEvent; at: number }[] = [];
			for (const c of chunks)
				for (const event of parser.push(decoder.decode(c.bytes, { stream: true }))) out.push({ event, at: c.at });
			return out;
		},
	};
}
