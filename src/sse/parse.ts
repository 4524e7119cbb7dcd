/**
 * Incremental SSE parser (WHATWG event-stream interpretation). Used to read the
 * engine-facing and test-facing streams; it is the inverse of `encodeFrame`.
 */
export interface ParsedEvent {
	readonly event: string;
	readonly data: string;
	readonly id: string | undefined;
}

export class SseParser {
	private buffer = "";
	private data: string[] = [];
	private event = "";
	private id: string | undefined;
	private sawData = false;

	/** Feeds a chunk; returns the events it completed. */
	push(chunk: string): ParsedEvent[] {
		this.buffer += chunk;
		const out: ParsedEvent[] = [];
		for (;;) {
			const match = /\r\n|\r|\n/.exec(this.buffer);
			if (!match) break;
			// A lone CR at the very end may be the first half of CRLF: wait for more.
			if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
			const line = this.buffer.slice(0, match.index);
			this.buffer = this.buffer.slice(match.index + match[0].length);
			const event = this.line(line);
			if (event) out.push(event);
		}
		return out;
	}

	private line(line: string): ParsedEvent | undefined {
		if (line === "") {
			if (!this.sawData) {
				this.event = "";
				return undefined;
			}
			const event = {
				event: this.event || "message",
				data: this.data.join("\n"),
				id: this.id,
			};
			this.data = [];
			this.event = "";
			this.sawData = false;
			return event;
		}
		if (line.startsWith(":")) return undefined;
		const colon = line.indexOf(":");
		const field = colon === -1 ? line : line.slice(0, colon);
		let value = colon === -1 ? "" : line.slice(colon + 1);
		if (value.startsWith(" ")) value = value.slice(1);
		if (field === "data") {
			this.data.push(value);
			this.sawData = true;
		} else if (field === "event") this.event = value;
		else if (field === "id" && !value.includes("\0")) this.id = value;
		return undefined;
	}
}
