/**
 * Server-Sent Events framing per the WHATWG spec
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 * Hand-written, not better-sse or Elysia's `sse()`: the event log stores these exact bytes and streams send them from disk.
 */
export interface SseFrame {
	/** Event name; must not contain CR or LF. */
	readonly event?: string;
	/** Event id; must not contain CR, LF or NUL. */
	readonly id?: string | number;
	/** Payload; a string is sent as is (split on newlines), anything else as JSON. */
	readonly data?: unknown;
	/** Reconnection delay hint in milliseconds. */
	readonly retry?: number;
	/** A comment line (ignored by clients), e.g. to open a stream. */
	readonly comment?: string;
}

const LINE_BREAK = /\r\n|\r|\n/;

function assertField(name: string, value: string): void {
	if (/[\r\n]/.test(value) || (name === "id" && value.includes("\0"))) {
		throw new TypeError(`SSE ${name} must not contain line breaks${name === "id" ? " or NUL" : ""}`);
	}
}

/** Encodes one frame; the result ends with the blank line that dispatches it. */
export function encodeFrame(frame: SseFrame): string {
	let out = "";
	if (frame.comment !== undefined) {
		for (const line of frame.comment.split(LINE_BREAK)) out += `: ${line}\n`;
	}
	if (frame.retry !== undefined) {
		if (!Number.isInteger(frame.retry) || frame.retry < 0)
			throw new TypeError("SSE retry must be a non-negative integer");
		out += `retry: ${frame.retry}\n`;
	}
	if (frame.event !== undefined) {
		assertField("event", frame.event);
		out += `event: ${frame.event}\n`;
	}
	if (frame.id !== undefined) {
		const id = String(frame.id);
		assertField("id", id);
		out += `id: ${id}\n`;
	}
	if (frame.data !== undefined) {
		const text = typeof frame.data === "string" ? frame.data : JSON.stringify(frame.data);
		for (const line of text.split(LINE_BREAK)) out += `data: ${line}\n`;
	}
	return `${out}\n`;
}
