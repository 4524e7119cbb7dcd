import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoggedEvent } from "../../src/events/catalogue";
import { EventChannel } from "../../src/events/channel";
import { EventLog } from "../../src/events/log";
import { type CloseReason, type EventStreamOptions, openEventStream } from "../../src/sse/event-stream";
import { type ParsedEvent, SseParser } from "../../src/sse/parse";
import { ManualClock } from "../support/manual-clock";

const T = "2026-01-01T00:00:00.000Z";
const HEARTBEAT_MS = 1000;
const RETRY_MS = 2000;
/** The default stall time: two heartbeats, at least 5 s. */
const STALL_MS = 5000;
const PREAMBLE = `: stream open\nretry: ${RETRY_MS}\n\n`;
const HEARTBEAT_FRAME = "event: heartbeat\ndata: {}\n\n";

const output = (text: string): LoggedEvent => ({
	event: "output",
	data: { type: "stdout", text, source: "assistant", timestamp: T },
});
const complete: LoggedEvent = {
	event: "complete",
	data: { final_message: "done", files_modified: [], timestamp: T },
};
const fatalError: LoggedEvent = {
	event: "error",
	data: { error: "boom", fatal: true, code: "engine_error", timestamp: T },
};
const nonFatalError: LoggedEvent = {
	event: "error",
	data: {
		error: "slow down",
		fatal: false,
		code: "provider_rate_limited",
		retry_after: 3,
		timestamp: T,
	},
};

/** Reads one stream chunk by chunk and parses what arrives. */
class Client {
	readonly chunks: string[] = [];
	readonly events: ParsedEvent[] = [];
	done = false;
	private readonly parser = new SseParser();

	private readonly decoder = new TextDecoder();

	constructor(readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

	/** Reads one chunk (UTF-8 bytes, as the socket gets them); false once the stream has ended. */
	async readOne(): Promise<boolean> {
		const { done, value } = await this.reader.read();
		if (done) {
			this.done = true;
			return false;
		}
		const text = this.decoder.decode(value, { stream: true });
		this.chunks.push(text);
		this.events.push(...this.parser.push(text));
		return true;
	}

	async readUntil(stop: (events: ParsedEvent[]) => boolean): Promise<void> {
		while (!stop(this.events) && (await this.readOne())) {}
	}

	async readToEnd(): Promise<void> {
		while (await this.readOne()) {}
	}

	get ids(): number[] {
		return this.events.filter((e) => e.event !== "heartbeat").map((e) => Number(e.id));
	}

	get texts(): string[] {
		return this.events.filter((e) => e.event === "output").map((e) => JSON.parse(e.data).text);
	}
}

let dir: string;
let log: EventLog;
let channel: EventChannel;
let clock: ManualClock;

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "event-stream-"));
	log = EventLog.open(join(dir, "events.log")).log;
	channel = new EventChannel(log);
	clock = new ManualClock();
});

afterEach(() => {
	log.close();
	rmSync(dir, { recursive: true, force: true });
});

function open(options: Partial<EventStreamOptions> = {}): {
	client: Client;
	closes: CloseReason[];
	close: (r: CloseReason) => void;
} {
	const closes: CloseReason[] = [];
	const { stream, close } = openEventStream(channel, {
		afterId: 0,
		heartbeatMs: HEARTBEAT_MS,
		maxQueuedBytes: 1024 * 1024,
		retryMs: RETRY_MS,
		clock,
		onClose: (reason) => closes.push(reason),
		...options,
	});
	return { client: new Client(stream.getReader()), closes, close };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("openEventStream", () => {
	it("sends the comment and retry preamble as the first chunk", async () => {
		const { client, close } = open();
		await client.readOne();
		expect(client.chunks[0]).toBe(PREAMBLE);
		close("server_closing");
	});

	it.each([
		// A small queue makes replay pause for the reader after every chunk.
		["from the start, small queue", 0, 400],
		["from the start, large queue", 0, 1024 * 1024],
		["from a middle id, small queue", 12, 400],
		["from a middle id, large queue", 12, 1024 * 1024],
	])(
		"replays %s and then goes live without gaps or duplicates while events keep arriving",
		async (_label, afterId, maxQueuedBytes) => {
			for (let i = 1; i <= 30; i++) channel.publish(output(`stored ${i}`));
			const { client, closes } = open({
				afterId,
				maxQueuedBytes,
				replayChunkBytes: 150,
			});
			// Publish between reads: some land while replay is still reading from disk.
			for (let i = 31; i <= 60; i++) {
				expect(await client.readOne()).toBe(true);
				channel.publish(output(`live ${i}`));
			}
			channel.publish(complete);
			await client.readToEnd();

			expect(client.ids).toEqual(range(afterId + 1, 61));
			expect(client.texts).toEqual([
				...range(afterId + 1, 30).map((i) => `stored ${i}`),
				...range(31, 60).map((i) => `live ${i}`),
			]);
			expect(client.events.at(-1)?.event).toBe("complete");
			expect(closes).toEqual(["terminal"]);
			expect(channel.subscriberCount).toBe(0);
			expect(clock.pendingTimers).toBe(0);
		},
	);

	it("replays in several chunks when replayChunkBytes is small", async () => {
		for (let i = 1; i <= 10; i++) channel.publish(output(`e${i}`));
		channel.publish(complete);
		const { client } = open({ replayChunkBytes: 1 });
		await client.readToEnd();
		expect(client.ids).toEqual(range(1, 11));
		// preamble + one chunk per event
		expect(client.chunks).toHaveLength(12);
	});

	it("closes after a live complete event", async () => {
		const { client, closes } = open();
		await client.readOne();
		channel.publish(output("working"));
		channel.publish(complete);
		channel.publish(output("after the end"));
		await client.readToEnd();
		expect(client.events.map((e) => e.event)).toEqual(["output", "complete"]);
		expect(closes).toEqual(["terminal"]);
		expect(channel.subscriberCount).toBe(0);
		expect(clock.pendingTimers).toBe(0);
	});

	it("closes after a live fatal error but not after a non-fatal one", async () => {
		const { client, closes } = open();
		await client.readOne();
		channel.publish(nonFatalError);
		channel.publish(output("retrying"));
		await client.readUntil((events) => events.length === 2);
		expect(closes).toEqual([]);
		expect(channel.subscriberCount).toBe(1);

		channel.publish(fatalError);
		await client.readToEnd();
		expect(client.events.map((e) => [e.event, e.id])).toEqual([
			["error", "1"],
			["output", "2"],
			["error", "3"],
		]);
		expect(JSON.parse(client.events[2]?.data ?? "{}").fatal).toBe(true);
		expect(closes).toEqual(["terminal"]);
		expect(clock.pendingTimers).toBe(0);
	});

	it("replays a log that already ends with a terminal event and closes", async () => {
		for (let i = 1; i <= 5; i++) channel.publish(output(`e${i}`));
		channel.publish(fatalError);
		const { client, closes } = open({ replayChunkBytes: 100 });
		await client.readToEnd();
		expect(client.ids).toEqual(range(1, 6));
		expect(client.events.at(-1)?.event).toBe("error");
		expect(closes).toEqual(["terminal"]);
		expect(channel.subscriberCount).toBe(0);
		expect(clock.pendingTimers).toBe(0);
	});

	it("closes at once with nothing to replay when the client already has the terminal event", async () => {
		channel.publish(output("only"));
		channel.publish(complete);
		const { client, closes } = open({ afterId: 2 });
		await client.readToEnd();
		expect(client.chunks).toEqual([PREAMBLE]);
		expect(closes).toEqual(["terminal"]);
	});

	it("replays without a gap or duplicate when the run ends, its log is sealed and its index let go while the stream is behind", async () => {
		for (let i = 1; i <= 150; i++) channel.publish(output(`e${i}`));
		const { client, closes } = open({ replayChunkBytes: 200 });
		await client.readUntil((events) => events.length >= 10);
		for (let i = 151; i <= 200; i++) channel.publish(output(`e${i}`));
		channel.publish(complete);
		log.seal();
		log.release();
		await client.readToEnd();
		expect(client.ids).toEqual(range(1, 201));
		expect(closes).toEqual(["terminal"]);
		expect(log.held).toEqual({ descriptor: false, index: true });
	});

	it("delivers the end of a run live to a stream that had caught up, across the seal", async () => {
		for (let i = 1; i <= 70; i++) channel.publish(output(`e${i}`));
		const { client, closes } = open();
		await client.readUntil((events) => events.length === 70);
		channel.publish(output("last"));
		channel.publish(complete);
		log.seal();
		await client.readToEnd();
		expect(client.ids).toEqual(range(1, 72));
		expect(closes).toEqual(["terminal"]);
	});

	it("keeps streaming past a terminal event in the middle of the log when a new run followed", async () => {
		channel.publish(output("run 1"));
		channel.publish(complete);
		channel.publish(output("run 2"));
		const { client, closes } = open({ replayChunkBytes: 1 });
		await client.readUntil((events) => events.length === 3);
		channel.publish(complete);
		await client.readToEnd();
		expect(client.ids).toEqual([1, 2, 3, 4]);
		expect(closes).toEqual(["terminal"]);
	});

	it("sends a heartbeat without an id every heartbeatMs", async () => {
		const { client, close, closes } = open();
		await client.readOne();
		expect(clock.pendingTimers).toBe(1);
		clock.advance(HEARTBEAT_MS - 1);
		clock.advance(1); // 1 heartbeat
		clock.advance(HEARTBEAT_MS * 2 + HEARTBEAT_MS / 2); // 2 more
		close("server_closing");
		expect(clock.pendingTimers).toBe(0);
		clock.advance(HEARTBEAT_MS * 10);
		await client.readToEnd();

		expect(client.chunks).toEqual([PREAMBLE, HEARTBEAT_FRAME, HEARTBEAT_FRAME, HEARTBEAT_FRAME]);
		expect(client.events).toEqual(Array(3).fill({ event: "heartbeat", data: "{}", id: undefined }));
		expect(closes).toEqual(["server_closing"]);
		expect(channel.subscriberCount).toBe(0);
	});

	it("interleaves heartbeats with events without disturbing ids", async () => {
		const { client, close } = open();
		await client.readOne();
		channel.publish(output("a"));
		clock.advance(HEARTBEAT_MS);
		channel.publish(output("b"));
		close("server_closing");
		await client.readToEnd();
		expect(client.chunks.slice(1)).toEqual([
			expect.stringContaining("id: 1\n"),
			HEARTBEAT_FRAME,
			expect.stringContaining("id: 2\n"),
		]);
	});

	it("stops its heartbeat timer after a terminal event", async () => {
		const { client } = open();
		await client.readOne();
		expect(clock.pendingTimers).toBe(1);
		channel.publish(complete);
		await client.readToEnd();
		expect(clock.pendingTimers).toBe(0);
		clock.advance(HEARTBEAT_MS * 5);
		expect(client.chunks.filter((c) => c === HEARTBEAT_FRAME)).toEqual([]);
	});

	it("drops a subscriber that never reads once it is behind by more than maxQueuedBytes for the stall time, while a reading subscriber on the same channel gets everything", async () => {
		const maxQueuedBytes = 2000;
		const idle = open({ maxQueuedBytes });
		const active = open({ maxQueuedBytes });
		expect(channel.subscriberCount).toBe(2);
		expect(clock.pendingTimers).toBe(2);
		await active.client.readOne();

		const sent: string[] = [];
		for (let i = 1; i <= 40; i++) {
			const text = `event ${i} ${"x".repeat(80)}`;
			sent.push(text);
			channel.publish(output(text));
			await active.client.readUntil((events) => events.length === i);
		}
		// Behind, but not yet judged: the events are on disk, nothing more is queued for it.
		expect(idle.closes).toEqual([]);
		clock.advance(STALL_MS);
		await active.client.readUntil((events) => events.filter((e) => e.event === "heartbeat").length > 0);
		expect(idle.closes).toEqual(["too_slow"]);
		expect(channel.subscriberCount).toBe(1);
		expect(clock.pendingTimers).toBe(1);
		await expect(idle.client.reader.read()).rejects.toThrow(/too_slow/);

		channel.publish(complete);
		await active.client.readToEnd();
		expect(active.client.ids).toEqual(range(1, 41));
		expect(active.client.texts).toEqual(sent);
		expect(active.closes).toEqual(["terminal"]);
		expect(channel.subscriberCount).toBe(0);
		expect(clock.pendingTimers).toBe(0);
	});

	it("drops a subscriber that never reads once heartbeats alone fill maxQueuedBytes for the stall time", async () => {
		const { closes } = open({ maxQueuedBytes: 200 });
		const perBeat = HEARTBEAT_FRAME.length;
		const beatsToOverflow = Math.floor((200 - PREAMBLE.length) / perBeat) + 1;
		clock.advance(HEARTBEAT_MS * beatsToOverflow);
		expect(closes).toEqual([]);
		clock.advance(STALL_MS);
		expect(closes).toEqual(["too_slow"]);
		expect(clock.pendingTimers).toBe(0);
		expect(channel.subscriberCount).toBe(0);
	});

	it("replays a log larger than maxQueuedBytes to a reader that keeps up", async () => {
		// 4096 is the smallest STREAM_BUFFER_BYTES the config allows; the hub
		// opens streams without replayChunkBytes.
		for (let i = 1; i <= 60; i++) channel.publish(output(`stored ${i} ${"y".repeat(100)}`));
		channel.publish(complete);
		// Observe (not replace) the stream's first replay read, so the client can
		// start reading just after it was handed to the stream, as a client whose
		// response headers are still in flight would.
		const firstRead = Promise.withResolvers<{ read: Promise<unknown> }>();
		const readFrames = log.readFrames.bind(log);
		log.readFrames = (afterId, maxBytes) => {
			const read = readFrames(afterId, maxBytes);
			firstRead.resolve({ read });
			return read;
		};
		const { client, closes } = open({ maxQueuedBytes: 4096 });
		const { read } = await firstRead.promise;
		// The stream awaited this read before we did, so it has handled it by now.
		await read;
		await client.readToEnd();
		expect(closes).toEqual(["terminal"]);
		expect(client.ids).toEqual(range(1, 61));
	});

	it("reads a small first replay chunk, then large ones within the queue limit", async () => {
		for (let i = 1; i <= 3000; i++) channel.publish(output(`stored ${i} ${"z".repeat(1000)}`));
		channel.publish(complete);
		const sizes: number[] = [];
		const readFrames = log.readFrames.bind(log);
		log.readFrames = (afterId, maxBytes) => {
			sizes.push(maxBytes ?? Number.NaN);
			return readFrames(afterId, maxBytes);
		};
		const maxQueuedBytes = 4 * 1024 * 1024;
		const { client, closes } = open({ maxQueuedBytes });
		await client.readToEnd();
		expect(closes).toEqual(["terminal"]);
		expect(client.ids).toEqual(range(1, 3001));
		expect(sizes[0]).toBe(64 * 1024);
		expect(Math.max(...sizes.slice(1))).toBe(1024 * 1024);
		for (const s of sizes) expect(s).toBeLessThanOrEqual(maxQueuedBytes);
	});

	it("unsubscribes, stops its timer and reports client_gone when the reader cancels", async () => {
		channel.publish(output("one"));
		const { client, closes } = open();
		await client.readUntil((events) => events.length === 1);
		expect(channel.subscriberCount).toBe(1);
		expect(clock.pendingTimers).toBe(1);

		await client.reader.cancel();
		expect(closes).toEqual(["client_gone"]);
		expect(channel.subscriberCount).toBe(0);
		expect(clock.pendingTimers).toBe(0);
		// Nothing more is attempted on the dead stream.
		channel.publish(output("two"));
		clock.advance(HEARTBEAT_MS * 3);
		expect(closes).toEqual(["client_gone"]);
	});

	it("reports client_gone when the reader cancels in the middle of a replay", async () => {
		for (let i = 1; i <= 20; i++) channel.publish(output(`e${i}`));
		const { client, closes } = open({
			replayChunkBytes: 1,
			maxQueuedBytes: 300,
		});
		await client.readUntil((events) => events.length >= 3);
		await client.reader.cancel();
		expect(closes).toEqual(["client_gone"]);
		expect(channel.subscriberCount).toBe(0);
		expect(clock.pendingTimers).toBe(0);
	});

	it("ends cleanly and reports the reason when the server closes it", async () => {
		const { client, close, closes } = open();
		await client.readOne();
		channel.publish(output("a"));
		close("server_closing");
		close("error"); // a second close changes nothing
		await client.readToEnd();
		expect(client.ids).toEqual([1]);
		expect(closes).toEqual(["server_closing"]);
		expect(channel.subscriberCount).toBe(0);
		expect(clock.pendingTimers).toBe(0);
	});
});
