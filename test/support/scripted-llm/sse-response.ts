import type { Frame } from "./formats/format";
import type { Hold } from "./types";

/** How a stream ends once its frames are sent. */
export type StreamEnd = "close" | "reset" | "hang";

export const SSE_HEADERS = {
	"content-type": "text/event-stream; charset=utf-8",
	"cache-control": "no-cache",
	connection: "keep-alive",
} as const;

/**
 * Bun sends the status line only with the first body bytes, so a hanging stream opens with
 * an SSE comment, which every SSE parser skips.
 */
const HANG_PREAMBLE = ": scripted-llm: hanging until the client disconnects\n\n";

/**
 * Streams `frames`, waiting `delayMs` before each paced frame but the first.
 * "reset" errors the body, which makes Bun drop the connection without the closing chunk
 * (the client sees ECONNRESET); "hang" keeps it open until the client goes away.
 */
export function sseResponse(
	frames: Frame[],
	options: { delayMs: number; end: StreamEnd; headers: Record<string, string>; hold?: Hold },
): Response {
	const encoder = new TextEncoder();
	let timer: ReturnType<typeof setTimeout> | undefined;
	let cancelled = false;
	const body = new ReadableStream<Uint8Array>({
		start(controller) {
			let index = 0;
			let pacedSeen = false;
			let paced = 0;
			let held = options.hold;
			const pump = (afterDelay: boolean): void => {
				if (cancelled) return;
				while (index < frames.length) {
					const frame = frames[index] as Frame;
					// The hold point: `afterDeltas` content frames are out, and the next frame is content or the last ones.
					if (held && paced >= held.afterDeltas && (frame.paced || !frames.slice(index).some((f) => f.paced))) {
						const until = held.until;
						held = undefined;
						void until.then(() => pump(true));
						return;
					}
					if (frame.paced && pacedSeen && options.delayMs > 0 && !afterDelay) {
						timer = setTimeout(() => pump(true), options.delayMs);
						return;
					}
					afterDelay = false;
					if (frame.paced) {
						pacedSeen = true;
						paced += 1;
					}
					controller.enqueue(encoder.encode(frame.text));
					index += 1;
				}
				if (options.end === "close") controller.close();
				else if (options.end === "hang") controller.enqueue(encoder.encode(HANG_PREAMBLE));
				// Erroring in the same task would reset the socket before Bun wrote the frames (even
				// the status line); one macrotask later they are out. No reason is given because Bun
				// would log an Error passed here as unhandled.
				else timer = setTimeout(() => controller.error(), 0);
			};
			pump(false);
		},
		cancel() {
			cancelled = true;
			clearTimeout(timer);
		},
	});
	return new Response(body, {
		status: 200,
		headers: { ...SSE_HEADERS, ...options.headers },
	});
}
