import { connect, type Socket } from "node:net";
import { type ParsedEvent, SseParser } from "../../src/sse/parse";

/**
 * HTTP/1.1 over a plain TCP socket, byte for byte: for requests no HTTP
 * client would send (bad request lines, huge or broken headers, lying
 * lengths) and for disconnecting at an exact point of a response.
 */
export interface RawResponse {
	/** Undefined when the server closed (or the time ran out) before a status line. */
	readonly status: number | undefined;
	readonly reason: string;
	/** Lower-cased names; a repeated header keeps its last value. */
	readonly headers: Record<string, string>;
	/** The body, de-chunked when the response was chunked. */
	readonly body: Buffer;
	/** Everything the server sent. */
	readonly raw: Buffer;
	/** No complete response and no close within the time limit. */
	readonly timedOut: boolean;
}

interface Head {
	readonly status: number;
	readonly reason: string;
	readonly headers: Record<string, string>;
	/** Offset of the body in the buffer. */
	readonly bodyStart: number;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

function parseHead(buf: Buffer, from = 0): Head | undefined {
	const end = buf.indexOf(CRLFCRLF, from);
	if (end === -1) return undefined;
	const lines = buf.toString("latin1", from, end).split("\r\n");
	const m = /^HTTP\/\d\.\d (\d{3}) ?(.*)$/.exec(lines[0] ?? "");
	if (!m) return undefined;
	const headers: Record<string, string> = {};
	for (const line of lines.slice(1)) {
		const colon = line.indexOf(":");
		if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
	}
	return {
		status: Number(m[1]),
		reason: m[2] ?? "",
		headers,
		bodyStart: end + 4,
	};
}

/** Incremental decoder of `Transfer-Encoding: chunked`. */
export class ChunkedDecoder {
	private pending = Buffer.alloc(0);
	private remaining = 0;
	private state: "size" | "data" | "data-crlf" | "trailer" | "done" = "size";

	get done(): boolean {
		return this.state === "done";
	}

	/** Feeds raw bytes; returns the body bytes they completed. */
	push(bytes: Buffer): Buffer {
		this.pending = Buffer.concat([this.pending, bytes]);
		const out: Buffer[] = [];
		for (;;) {
			if (this.state === "size" || this.state === "trailer") {
				const nl = this.pending.indexOf("\r\n");
				if (nl === -1) break;
				const line = this.pending.toString("latin1", 0, nl);
				this.pending = this.pending.subarray(nl + 2);
				if (this.state === "trailer") {
					if (line === "") this.state = "done";
					continue;
				}
				const size = Number.parseInt(line.split(";")[0] ?? "", 16);
				if (!Number.isFinite(size)) throw new Error(`bad chunk size ${line}`);
				if (size === 0) this.state = "trailer";
				else {
					this.remaining = size;
					this.state = "data";
				}
			} else if (this.state === "data") {
				if (this.pending.length === 0) break;
				const take = Math.min(this.remaining, this.pending.length);
				out.push(this.pending.subarray(0, take));
				this.pending = this.pending.subarray(take);
				this.remaining -= take;
				if (this.remaining === 0) this.state = "data-crlf";
			} else if (this.state === "data-crlf") {
				if (this.pending.length < 2) break;
				this.pending = this.pending.subarray(2);
				this.state = "size";
			} else break;
		}
		return Buffer.concat(out);
	}
}

/** Parses a buffer holding one response; `complete` says whether all of it has arrived. */
export function parseResponse(
	buf: Buffer,
	opts: { head?: boolean; closed?: boolean } = {},
): { complete: boolean; response?: Omit<RawResponse, "raw" | "timedOut"> } {
	let from = 0;
	let head = parseHead(buf, from);
	// Skip interim responses (100 Continue).
	while (head && head.status >= 100 && head.status < 200) {
		from = head.bodyStart;
		head = parseHead(buf, from);
	}
	if (!head) return { complete: false };
	const base = {
		status: head.status,
		reason: head.reason,
		headers: head.headers,
	};
	const rest = buf.subarray(head.bodyStart);
	if (opts.head || head.status === 204 || head.status === 304)
		return { complete: true, response: { ...base, body: Buffer.alloc(0) } };
	if (/chunked/i.test(head.headers["transfer-encoding"] ?? "")) {
		const d = new ChunkedDecoder();
		let body: Buffer;
		try {
			body = d.push(rest);
		} catch {
			body = rest;
		}
		return {
			complete: d.done || opts.closed === true,
			response: { ...base, body },
		};
	}
	const length = head.headers["content-length"];
	if (length !== undefined) {
		const n = Number(length);
		return {
			complete: rest.length >= n || opts.closed === true,
			response: { ...base, body: rest.subarray(0, n) },
		};
	}
	return { complete: opts.closed === true, response: { ...base, body: rest } };
}

/**
 * Sends `request` (written as given, in pieces if an array) and reads one
 * response: until it is complete, the server closes, or `timeoutMs` passes.
 * The socket is always destroyed at the end.
 */
export function rawExchange(
	port: number,
	request: string | Buffer | readonly (string | Buffer)[],
	opts: { timeoutMs?: number; head?: boolean } = {},
): Promise<RawResponse> {
	return new Promise((resolve) => {
		const socket = connect(port, "127.0.0.1");
		const chunks: Buffer[] = [];
		let settled = false;
		const finish = (closed: boolean, timedOut: boolean) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			socket.destroy();
			const raw = Buffer.concat(chunks);
			const { response } = parseResponse(raw, { head: opts.head, closed });
			resolve({
				status: response?.status,
				reason: response?.reason ?? "",
				headers: response?.headers ?? {},
				body: response?.body ?? Buffer.alloc(0),
				raw,
				timedOut,
			});
		};
		const timer = setTimeout(() => finish(false, true), opts.timeoutMs ?? 5000);
		socket.on("data", (c: Buffer) => {
			chunks.push(c);
			if (parseResponse(Buffer.concat(chunks), { head: opts.head }).complete) finish(false, false);
		});
		socket.on("error", () => finish(true, false));
		socket.on("close", () => finish(true, false));
		socket.on("connect", () => {
			const parts = typeof request === "string" || Buffer.isBuffer(request) ? [request] : request;
			for (const p of parts) {
				if (socket.destroyed) return;
				socket.write(p);
			}
		});
	});
}

/** Where a raw SSE connection is in its response. */
export type RawSsePhase = "connecting" | "head" | "body" | "closed";

/**
 * An SSE subscriber over a raw socket that can be cut at any byte: the
 * events it completed, the status of the response, and `destroy()`.
 */
export class RawSseConnection {
	readonly events: ParsedEvent[] = [];
	status: number | undefined;
	headers: Record<string, string> = {};
	/** Body bytes received (after de-chunking). */
	bodyBytes = 0;
	phase: RawSsePhase = "connecting";
	/** The whole request has been handed to the kernel. */
	requestSent = false;
	readonly closed: Promise<void>;
	private readonly socket: Socket;
	private headBuf = Buffer.alloc(0);
	private readonly chunked = new ChunkedDecoder();
	private readonly parser = new SseParser();
	private readonly decoder = new TextDecoder();
	private listeners: (() => void)[] = [];

	constructor(
		port: number,
		request: string,
		/** Called after each piece of body; return true to stop reading (the socket is destroyed). */
		private readonly onProgress?: (c: RawSseConnection) => boolean,
	) {
		this.socket = connect(port, "127.0.0.1");
		this.closed = new Promise((resolve) => {
			this.socket.on("close", () => {
				this.phase = "closed";
				resolve();
				this.notify();
			});
		});
		this.socket.on("error", () => {});
		this.socket.on("connect", () => {
			if (this.phase === "connecting") this.phase = "head";
			this.socket.write(request, () => {
				this.requestSent = true;
				this.notify();
			});
		});
		this.socket.on("data", (c: Buffer) => this.onData(c));
	}

	/** Resolves when `check` holds or the connection closes. */
	until(check: (c: RawSseConnection) => boolean): Promise<void> {
		if (check(this) || this.phase === "closed") return Promise.resolve();
		return new Promise((resolve) => {
			const l = () => {
				if (check(this) || this.phase === "closed") {
					this.listeners = this.listeners.filter((x) => x !== l);
					resolve();
				}
			};
			this.listeners.push(l);
		});
	}

	destroy(): void {
		this.socket.destroy();
	}

	private notify(): void {
		for (const l of [...this.listeners]) l();
	}

	private onData(c: Buffer): void {
		if (this.phase === "closed") return;
		let body = c;
		if (this.status === undefined) {
			this.headBuf = Buffer.concat([this.headBuf, c]);
			const head = parseHead(this.headBuf);
			if (!head) return;
			this.status = head.status;
			this.headers = head.headers;
			this.phase = "body";
			body = this.headBuf.subarray(head.bodyStart);
		}
		const bytes = /chunked/i.test(this.headers["transfer-encoding"] ?? "") ? this.chunked.push(body) : body;
		this.bodyBytes += bytes.length;
		for (const e of this.parser.push(this.decoder.decode(bytes, { stream: true }))) this.events.push(e);
		if (this.onProgress?.(this)) this.socket.destroy();
		this.notify();
	}
}

/** A GET request line and headers, closing the connection after the response. */
export function getRequest(path: string, headers: Record<string, string> = {}): string {
	const lines = [`GET ${path} HTTP/1.1`, "Host: 127.0.0.1"];
	for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
	lines.push("Connection: close");
	return `${lines.join("\r\n")}\r\n\r\n`;
}
