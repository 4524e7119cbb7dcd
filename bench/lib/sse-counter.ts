import type { Socket } from "bun";
import { now } from "./clock";

/**
 * A cheap SSE subscriber for fan-out loads: a raw TCP connection that counts
 * frames carrying an `id` in the raw bytes, without decoding text or even the
 * chunked framing (chunk headers sit between frames, never inside one, since
 * servers write whole frames). Every `sampleEvery`-th id it reads the send
 * time after `@` in the payload and records the delivery latency (in the
 * sender's clock, via `offset`). Hundreds of these fit in one process at
 * millions of frames per second, so the client is not what limits a server
 * under test.
 */
export interface Counter {
	status: number;
	frames: number;
	/** Frames whose id was not the previous one plus one. */
	gaps: number;
	lastId: number;
	bytes: number;
	/** Receive time (bench clock) of the newest frame. */
	lastAt: number;
	closed: boolean;
	readonly latencies: number[];
}

export interface CounterOptions {
	readonly port: number;
	readonly path: string;
	readonly headers?: Record<string, string>;
	readonly sampleEvery: number;
	/** Added to a bench clock reading to get the sender's clock. */
	readonly offset: number;
}

const ID = Buffer.from("\nid: ");
const AT = 0x40; // "@"

export interface CounterSet {
	readonly counters: Counter[];
	close(): void;
}

/** Opens `n` subscribers and resolves once every one has its response head. */
export async function openCounters(n: number, options: CounterOptions): Promise<CounterSet> {
	const sockets: Socket<unknown>[] = [];
	const counters: Counter[] = [];
	const heads: Promise<void>[] = [];
	for (let i = 0; i < n; i++) {
		const { counter, socket, head } = await connect(options);
		counters.push(counter);
		sockets.push(socket);
		heads.push(head);
	}
	await Promise.all(heads);
	const refused = counters.filter((c) => c.status !== 200).length;
	if (refused > 0) {
		for (const s of sockets) s.end();
		throw new Error(
			`${refused} of ${n} subscribers to ${options.path} were refused (status ${counters.find((c) => c.status !== 200)?.status})`,
		);
	}
	return {
		counters,
		close() {
			for (const s of sockets) s.end();
		},
	};
}

async function connect(options: CounterOptions) {
	const counter: Counter = {
		status: 0,
		frames: 0,
		gaps: 0,
		lastId: 0,
		bytes: 0,
		lastAt: 0,
		closed: false,
		latencies: [],
	};
	let headDone: () => void = () => {};
	const head = new Promise<void>((r) => {
		headDone = r;
	});
	let carry: Buffer | undefined;
	let headBuf: Buffer | undefined = Buffer.alloc(0);
	const extra = Object.entries(options.headers ?? {})
		.map(([k, v]) => `${k}: ${v}\r\n`)
		.join("");
	const socket = await Bun.connect({
		hostname: "127.0.0.1",
		port: options.port,
		socket: {
			open(s) {
				s.write(`GET ${options.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${extra}\r\n`);
			},
			data(_s, data: Buffer) {
				const at = now();
				if (headBuf !== undefined) {
					const all = Buffer.concat([headBuf, data]);
					const end = all.indexOf("\r\n\r\n");
					if (end === -1) {
						headBuf = all;
						return;
					}
					counter.status = Number(all.toString("latin1", 9, 12));
					headBuf = undefined;
					headDone();
					data = all.subarray(end + 4);
				}
				counter.bytes += data.length;
				// Only whole frames are scanned; the tail after the last blank line waits for the rest.
				const piece = carry ? Buffer.concat([carry, data]) : data;
				const cut = piece.lastIndexOf("\n\n");
				carry = cut === -1 ? piece : cut + 2 < piece.length ? piece.subarray(cut + 2) : undefined;
				if (cut !== -1) scan(counter, piece.subarray(0, cut + 2), at, options);
			},
			close() {
				counter.closed = true;
				headDone();
			},
			error() {
				counter.closed = true;
				headDone();
			},
		},
	});
	return { counter, socket, head };
}

/** Counts the id-carrying frames of whole frames, sampling latencies. */
function scan(counter: Counter, piece: Buffer, at: number, options: CounterOptions): void {
	let pos = piece.indexOf(ID);
	let found = false;
	while (pos !== -1) {
		let i = pos + ID.length;
		let id = 0;
		while (i < piece.length) {
			const c = piece[i] as number;
			if (c < 0x30 || c > 0x39) break;
			id = id * 10 + (c - 0x30);
			i++;
		}
		counter.frames++;
		if (counter.lastId !== 0 && id !== counter.lastId + 1) counter.gaps++;
		counter.lastId = id;
		found = true;
		if (id % options.sampleEvery === 0) {
			const mark = piece.indexOf(AT, i);
			if (mark !== -1) {
				const sentAt = Number.parseFloat(piece.toString("latin1", mark + 1, mark + 24));
				if (Number.isFinite(sentAt)) counter.latencies.push(at + options.offset - sentAt);
			}
		}
		pos = piece.indexOf(ID, i);
	}
	if (found) counter.lastAt = at;
}
