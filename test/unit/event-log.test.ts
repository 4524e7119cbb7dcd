import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import {
	appendFileSync,
	existsSync,
	mkdtempSync,
	openSync,
	readFileSync,
	rmSync,
	statSync,
	unlinkSync,
	writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoggedEvent, StoredEvent } from "../../src/events/catalogue";
import { EventLog } from "../../src/events/log";
import { type LogFiles, NODE_FILES } from "../../src/events/log-files";
import {
	decodeIndex,
	EMPTY_INDEX,
	EVERY,
	encodeIndex,
	extendIndex,
	headerId,
	lastFrameIdOfTail,
} from "../../src/events/log-index";
import { RecentLogs } from "../../src/events/recent";
import { decodeFrame, decodeLegacyRecord, eventToFrame, frameId } from "../../src/events/record";
import { encodeFrame } from "../../src/sse/encode";
import { SseParser } from "../../src/sse/parse";
import { textHeld } from "../support/text-held";

const T = "2026-01-01T00:00:00.000Z";
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const output = (text: string): LoggedEvent => ({
	event: "output",
	data: { type: "stdout", text, source: "assistant", timestamp: T },
});

/** A varied run: text with awkward characters, a tool call and result, and a status. */
function sampleEvents(n: number): LoggedEvent[] {
	const out: LoggedEvent[] = [];
	for (let i = 0; i < n; i++) {
		switch (i % 4) {
			case 0:
				out.push(output(`line ${i}\nsecond\tline ✓ \u2028 🚀 "quoted"`));
				break;
			case 1:
				out.push({
					event: "tool_call",
					data: {
						tool: "bash",
						args: { command: `echo ${i} > f.txt` },
						call_id: `call_${i}`,
						timestamp: T,
					},
				});
				break;
			case 2:
				out.push({
					event: "tool_result",
					data: {
						tool: "bash",
						result: {
							output: `${i}\r\n`,
							title: "echo",
							metadata: { exit: 0 },
						},
						call_id: `call_${i - 1}`,
						is_error: false,
						timestamp: T,
					},
				});
				break;
			default:
				out.push({
					event: "status",
					data: { status: "running", progress: i % 100, timestamp: T },
				});
		}
	}
	return out;
}

let dir: string;
let path: string;
const opened: EventLog[] = [];

function open(): ReturnType<typeof EventLog.open> {
	const result = EventLog.open(path);
	opened.push(result.log);
	return result;
}

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "event-log-"));
	path = join(dir, "events.log");
});

afterEach(() => {
	for (const log of opened.splice(0)) log.close();
	rmSync(dir, { recursive: true, force: true });
});

describe("EventLog", () => {
	it("numbers events densely from 1", () => {
		const { log, recovery } = open();
		expect(recovery).toEqual({ events: 0, discardedBytes: 0 });
		expect(log.lastId).toBe(0);
		expect(log.atRest).toBe(false);
		const ids = sampleEvents(5).map((e) => log.append(e).id);
		expect(ids).toEqual([1, 2, 3, 4, 5]);
		expect(log.lastId).toBe(5);
	});

	it("is at rest after a terminal event and keeps none of its text (a complete holds the whole final message)", () => {
		const answer = "The whole answer. ".repeat(5000);
		const complete: LoggedEvent = {
			event: "complete",
			data: { final_message: answer, files_modified: [], timestamp: T },
		};
		const first = open().log;
		first.append(output("working"));
		expect(first.atRest).toBe(false);
		first.append(complete);
		expect(first.atRest).toBe(true);
		expect(textHeld(first)).toBeLessThan(1000);
		first.close();
		const { log } = open();
		expect(log.atRest).toBe(true);
		expect(textHeld(log)).toBeLessThan(1000);
		log.append(output("a follow-up"));
		expect(log.atRest).toBe(false);
	});

	it("returns the stored event with the payload it was given", () => {
		const { log } = open();
		const event = output("hello\nworld");
		expect(log.append(event)).toEqual({ ...event, id: 1 } as StoredEvent);
	});

	it("keeps every event with the same ids and payloads after close and reopen", async () => {
		const events = sampleEvents(9);
		const first = open().log;
		for (const e of events) first.append(e);
		first.close();

		const { log, recovery } = open();
		expect(recovery).toEqual({ events: 9, discardedBytes: 0 });
		expect(log.lastId).toBe(9);
		expect(await log.readAll()).toEqual(events.map((e, i) => ({ ...e, id: i + 1 }) as StoredEvent));
		expect(log.append(output("after reopen")).id).toBe(10);
	});

	it("refuses to append after close", () => {
		const { log } = open();
		log.close();
		expect(() => log.append(output("late"))).toThrow(/closed/);
	});

	it("discards a torn last record without a newline and continues from the right id", async () => {
		const first = open().log;
		for (const e of sampleEvents(3)) first.append(e);
		first.close();
		const intact = statSync(path).size;
		const torn = 'event: output\nid: 4\ndata: {"type":"stdout","text":"cut';
		appendFileSync(path, torn);

		const { log, recovery } = open();
		expect(recovery).toEqual({
			events: 3,
			discardedBytes: Buffer.byteLength(torn),
		});
		expect(statSync(path).size).toBe(intact);
		expect(log.lastId).toBe(3);
		expect(log.append(output("next")).id).toBe(4);
		const all = await log.readAll();
		expect(all.map((e) => e.id)).toEqual([1, 2, 3, 4]);
		expect(all[3]).toEqual({ ...output("next"), id: 4 } as StoredEvent);
	});

	it("discards a whole frame that was torn before its blank line", () => {
		const first = open().log;
		first.append(output("one"));
		first.close();
		for (const cut of [1, 2]) {
			const frame = eventToFrame({ ...output("two"), id: 2 } as StoredEvent);
			const torn = frame.slice(0, frame.length - cut);
			appendFileSync(path, torn);
			const { log, recovery } = open();
			expect(recovery.discardedBytes).toBe(Buffer.byteLength(torn));
			expect(log.lastId).toBe(1);
			log.close();
		}
	});

	it("cuts a last frame whose payload does not parse, and keeps the one before as the last event", async () => {
		const first = open().log;
		first.append(output("one"));
		first.close();
		const bad = 'event: output\nid: 2\ndata: {"type":"std\n\n';
		appendFileSync(path, bad);
		const { log, recovery } = open();
		expect(recovery).toEqual({ events: 1, discardedBytes: Buffer.byteLength(bad) });
		expect(log.lastId).toBe(1);
		expect(await log.readAll()).toEqual([{ ...output("one"), id: 1 } as StoredEvent]);
	});

	it("writes exactly the frames it stores, so the file is an SSE stream", () => {
		const { log } = open();
		const events = sampleEvents(6);
		const frames = events.map((e) => log.appendFrame(e));
		expect(frames.map((f) => f.stored.id)).toEqual([1, 2, 3, 4, 5, 6]);
		const file = readFileSync(path, "utf8");
		expect(file).toBe(frames.map((f) => new TextDecoder().decode(f.frame)).join(""));
		const parsed = new SseParser().push(file);
		expect(parsed.map((p) => ({ event: p.event, id: Number(p.id), data: JSON.parse(p.data) }))).toEqual(
			events.map((e, i) => ({ ...e, id: i + 1 })),
		);
	});

	it("migrates a log in the old line format to frames, keeping ids and payloads and cutting a torn tail", async () => {
		const events = sampleEvents(7).map((e, i) => ({ ...e, id: i + 1 }) as StoredEvent);
		const legacy = events.map((e) => `${e.id}\t${e.event}\t${JSON.stringify(e.data)}\n`).join("");
		const torn = '8\toutput\t{"type":"std';
		writeFileSync(path, legacy + torn);
		const { log, recovery } = open();
		expect(recovery).toEqual({ events: 7, discardedBytes: Buffer.byteLength(torn), migrated: true });
		expect(readFileSync(path, "utf8")).toBe(events.map(eventToFrame).join(""));
		expect(await log.readAll()).toEqual(events);
		expect(log.lastId).toBe(7);
		expect(log.append(output("after migration")).id).toBe(8);
		log.close();
		// Opening again finds frames: nothing to migrate.
		expect(open().recovery).toEqual({ events: 8, discardedBytes: 0 });
	});

	it("flushes in the background and closes only after a flush in flight", async () => {
		const { log } = open();
		log.append(output("one"));
		log.sync();
		log.append(output("two"));
		log.sync(); // one flush at a time: this one is skipped, the next catches up
		log.close();
		expect(() => log.append(output("late"))).toThrow(/closed/);
		const { log: again, recovery } = open();
		expect(recovery.events).toBe(2);
		expect((await again.readAll()).map((e) => e.id)).toEqual([1, 2]);
	});

	it("discards a complete record that was torn just before its newline (old format)", () => {
		const first = open().log;
		first.append(output("one"));
		first.close();
		const whole = "garbage without end";
		appendFileSync(path, whole);
		const { log, recovery } = open();
		expect(recovery.discardedBytes).toBe(Buffer.byteLength(whole));
		expect(log.lastId).toBe(1);
	});

	it("discards a garbage last line and reports its size", async () => {
		const first = open().log;
		for (const e of sampleEvents(2)) first.append(e);
		first.close();
		const garbage = "\u0000\u0000garbage ✗\n";
		appendFileSync(path, garbage);

		const { log, recovery } = open();
		expect(recovery).toEqual({
			events: 2,
			discardedBytes: Buffer.byteLength(garbage),
		});
		expect(log.append(output("three")).id).toBe(3);
		expect((await log.readAll()).map((e) => e.id)).toEqual([1, 2, 3]);
	});

	it("cuts the log at a record whose id is out of sequence", () => {
		const first = open().log;
		first.append(output("one"));
		first.close();
		const skipped = eventToFrame({ ...output("five"), id: 5 } as StoredEvent);
		appendFileSync(path, skipped);
		const { log, recovery } = open();
		expect(recovery).toEqual({
			events: 1,
			discardedBytes: Buffer.byteLength(skipped),
		});
		expect(log.append(output("two")).id).toBe(2);
	});

	it("recovers an empty log from a file holding only a torn frame", () => {
		writeFileSync(path, "event: out");
		const { log, recovery } = open();
		expect(recovery).toEqual({ events: 0, discardedBytes: 10 });
		expect(log.lastId).toBe(0);
		expect(readFileSync(path, "utf8")).toBe("");
	});
});

describe("EventLog.readFrames", () => {
	const events = sampleEvents(20);
	let log: EventLog;

	beforeEach(() => {
		log = open().log;
		for (const e of events) log.append(e);
	});

	const expectedFrames = (afterId: number) =>
		events
			.slice(afterId)
			.map((e, i) => eventToFrame({ ...e, id: afterId + i + 1 } as StoredEvent))
			.join("");

	it("returns every event after afterId as frames identical to eventToFrame", async () => {
		for (const afterId of [0, 1, 7, 19]) {
			const { bytes, lastId } = await log.readFrames(afterId);
			const text = decode(bytes);
			expect(lastId).toBe(20);
			expect(text).toBe(expectedFrames(afterId));
		}
	});

	it("returns nothing when afterId is the last id", async () => {
		const { bytes, lastId } = await log.readFrames(20);
		expect({ length: bytes.byteLength, lastId }).toEqual({ length: 0, lastId: 20 });
	});

	it("returns nothing for an empty log", async () => {
		const empty = EventLog.open(join(dir, "empty.log"));
		opened.push(empty.log);
		const { bytes, lastId } = await empty.log.readFrames(0);
		expect({ length: bytes.byteLength, lastId }).toEqual({ length: 0, lastId: 0 });
	});

	it.each([1, 50, 300, 1000])(
		"reads in chunks of about %d bytes that together hold exactly the events after afterId, in order",
		async (maxBytes) => {
			for (const afterId of [0, 5]) {
				let cursor = afterId;
				let text = "";
				let chunks = 0;
				while (cursor < log.lastId) {
					const chunk = await log.readFrames(cursor, maxBytes);
					expect(chunk.lastId).toBeGreaterThan(cursor);
					expect(chunk.bytes.byteLength <= maxBytes || chunk.lastId === cursor + 1).toBe(true);
					text += decode(chunk.bytes);
					cursor = chunk.lastId;
					chunks++;
				}
				expect(text).toBe(expectedFrames(afterId));
				if (maxBytes < 300) expect(chunks).toBe(20 - afterId);
				else expect(chunks).toBeGreaterThan(1);
			}
		},
	);

	it("includes at least one event even when it is larger than maxBytes", async () => {
		const read = await log.readFrames(3, 1);
		const { lastId } = read;
		const text = decode(read.bytes);
		expect(lastId).toBe(4);
		expect(text).toBe(expectedFrames(3).slice(0, text.length));
		expect(new SseParser().push(text)).toHaveLength(1);
	});

	it("parses back to the stored ids and payloads", async () => {
		const text = decode((await log.readFrames(0)).bytes);
		const parsed = new SseParser().push(text);
		expect(
			parsed.map((p) => ({
				event: p.event,
				id: Number(p.id),
				data: JSON.parse(p.data),
			})),
		).toEqual(events.map((e, i) => ({ ...e, id: i + 1 })));
	});

	it("sees events appended after an earlier read", async () => {
		await log.readFrames(0);
		log.append(output("late\narrival"));
		const read = await log.readFrames(20);
		const { lastId } = read;
		const text = decode(read.bytes);
		expect(lastId).toBe(21);
		expect(text).toBe(eventToFrame({ ...output("late\narrival"), id: 21 } as StoredEvent));
	});
});

describe("records", () => {
	const tricky: LoggedEvent[] = [
		output("newline\ninside"),
		output("carriage\rreturn and\r\nCRLF"),
		output("tab\there\tand there"),
		output("unicode ✓ 日本語 🚀 \u2028 \u2029 é"),
		output("control \u0000 \u0001 \u001f"),
		output(""),
		{
			event: "tool_call",
			data: {
				tool: "write",
				args: { "key\twith\ttabs": "v\nw", nested: { list: ["a\tb"] } },
				call_id: "c",
				timestamp: T,
			},
		},
		{
			event: "error",
			data: {
				error: "bad\nthing",
				fatal: true,
				code: "engine_error",
				timestamp: T,
			},
		},
	];

	it.each(tricky.map((e, i) => [i, e] as const))(
		"eventToFrame equals encodeFrame({event, id, data}), is three lines and decodes back (case %d)",
		(i, e) => {
			const stored = { ...e, id: i + 1 } as StoredEvent;
			const frame = encodeFrame({
				event: stored.event,
				id: stored.id,
				data: stored.data,
			});
			expect(eventToFrame(stored)).toBe(frame);
			const body = frame.slice(0, -2);
			expect(body.split("\n")).toHaveLength(3);
			expect(body).not.toMatch(/\r/);
			expect(frameId(body)).toBe(stored.id);
			expect(decodeFrame(body)).toEqual(stored);
			expect(decodeLegacyRecord(`${stored.id}\t${stored.event}\t${JSON.stringify(stored.data)}`)).toEqual(stored);
		},
	);

	it.each([
		["an empty line", ""],
		["no tabs", "1 output {}"],
		["one tab", '1\t{"a":1}'],
		["a zero id", "0\toutput\t{}"],
		["a negative id", "-1\toutput\t{}"],
		["a fractional id", "1.5\toutput\t{}"],
		["a non-numeric id", "x\toutput\t{}"],
		["truncated JSON", '1\toutput\t{"a":'],
		["a JSON scalar", "1\toutput\t42"],
		["JSON null", "1\toutput\tnull"],
	])("decodeLegacyRecord rejects %s", (_name, line) => {
		expect(decodeLegacyRecord(line)).toBeUndefined();
	});

	it.each([
		["an empty frame", ""],
		["no event line", "id: 1\ndata: {}"],
		["no id line", "event: output\ndata: {}"],
		["no data line", "event: output\nid: 1"],
		["an extra line", "event: output\nid: 1\nretry: 5\ndata: {}"],
		["a zero id", "event: output\nid: 0\ndata: {}"],
		["a fractional id", "event: output\nid: 1.5\ndata: {}"],
		["a non-numeric id", "event: output\nid: x\ndata: {}"],
		["truncated JSON", 'event: output\nid: 1\ndata: {"a":'],
		["a JSON scalar", "event: output\nid: 1\ndata: 42"],
		["JSON null", "event: output\nid: 1\ndata: null"],
	])("decodeFrame rejects %s", (_name, frame) => {
		expect(decodeFrame(frame)).toBeUndefined();
	});
});

describe("a stored log (EventLog.stored)", () => {
	const N = 3 * EVERY + 7;
	const events = sampleEvents(N).map((e, i) => ({ ...e, id: i + 1 }) as StoredEvent);
	const frames = (afterId: number, to = N) => events.slice(afterId, to).map(eventToFrame).join("");
	let opens: string[];
	const files: LogFiles = {
		openSync: (p, flags) => {
			opens.push(p);
			return openSync(p, flags);
		},
		read: (p, start, end) => {
			opens.push(p);
			return NODE_FILES.read(p, start, end);
		},
	};

	/** A run of N events, ended: sealed as `Session.end` does, which writes the index. */
	async function writeSealed(at = path): Promise<void> {
		const { log } = EventLog.open(at);
		for (const e of events) log.append(e);
		log.seal();
		await log.settled();
		expect(log.held.descriptor).toBe(false);
	}

	const stored = (options: { recent?: RecentLogs } = {}, at = path, lastId = N) =>
		EventLog.stored(at, { lastId, atRest: true }, { files, ...options });

	beforeEach(() => {
		opens = [];
	});

	it("opens nothing until it is read, then replays exactly from every id, across index boundaries", async () => {
		await writeSealed();
		expect(existsSync(`${path}.idx`)).toBe(true);
		const log = stored();
		expect({ lastId: log.lastId, atRest: log.atRest, opens }).toEqual({ lastId: N, atRest: true, opens: [] });
		for (let afterId = 0; afterId <= N; afterId++) {
			const { bytes, lastId } = await log.readFrames(afterId, 1024 * 1024);
			expect({ afterId, lastId, text: decode(bytes) }).toEqual({
				afterId,
				lastId: Math.max(N, afterId),
				text: frames(afterId),
			});
		}
	});

	it("reads in small chunks from the middle exactly", async () => {
		await writeSealed();
		const log = stored();
		let cursor = EVERY + 1;
		let text = "";
		while (cursor < N) {
			const chunk = await log.readFrames(cursor, 300);
			expect(chunk.lastId).toBeGreaterThan(cursor);
			text += decode(chunk.bytes);
			cursor = chunk.lastId;
		}
		expect(text).toBe(frames(EVERY + 1));
	});

	it("indexes a log stored without an index file once, and writes the index", async () => {
		await writeSealed();
		unlinkSync(`${path}.idx`);
		const log = stored();
		expect(decode((await log.readFrames(2 * EVERY + 3)).bytes)).toBe(frames(2 * EVERY + 3));
		expect(existsSync(`${path}.idx`)).toBe(true);
		opens = [];
		const again = stored();
		expect(decode((await again.readFrames(EVERY)).bytes)).toBe(frames(EVERY));
		// The index file and the log, nothing else.
		expect(opens).toEqual([`${path}.idx`, path, path]);
	});

	it("detects an index file that does not describe its log and rebuilds the index from the frames", async () => {
		await writeSealed();
		const idx = JSON.parse(readFileSync(`${path}.idx`, "utf8"));
		idx.offsets = idx.offsets.map((o: number, k: number) => (k === 0 ? 0 : o + 5));
		writeFileSync(`${path}.idx`, JSON.stringify(idx));
		const log = stored();
		for (const afterId of [EVERY + 2, 0, 2 * EVERY])
			expect(decode((await log.readFrames(afterId)).bytes)).toBe(frames(afterId));
	});

	it("extends an index file older than its log from the frames written after it", async () => {
		await writeSealed();
		const more = sampleEvents(30).map((e, i) => ({ ...e, id: N + i + 1 }) as StoredEvent);
		appendFileSync(path, more.map(eventToFrame).join(""));
		const log = stored();
		const { bytes, lastId } = await log.readFrames(N - 1);
		expect(lastId).toBe(N + 30);
		expect(decode(bytes)).toBe(frames(N - 1) + more.map(eventToFrame).join(""));
	});

	it("a follow-up appends after the last whole frame with the next id, cutting bytes left after it", async () => {
		await writeSealed();
		appendFileSync(path, 'event: output\nid: 999\ndata: {"ty');
		const log = stored();
		expect(log.held).toEqual({ descriptor: false, index: false });
		expect(log.append(output("next run")).id).toBe(N + 1);
		expect(log.held).toEqual({ descriptor: true, index: true });
		log.seal();
		await log.settled();
		expect(readFileSync(path, "utf8")).toBe(
			frames(0) + eventToFrame({ ...output("next run"), id: N + 1 } as StoredEvent),
		);
		expect(decode((await stored({}, path, N + 1).readFrames(N - 2)).bytes)).toBe(
			frames(N - 2) + eventToFrame({ ...output("next run"), id: N + 1 } as StoredEvent),
		);
	});

	it("keeps at most RecentLogs' capacity of stored logs indexed, and reloads one let go", async () => {
		const recent = new RecentLogs(2);
		const logs: EventLog[] = [];
		for (let i = 0; i < 5; i++) {
			const at = join(dir, `events-${i}.log`);
			await writeSealed(at);
			const log = stored({ recent }, at);
			await log.readFrames(EVERY);
			logs.push(log);
		}
		expect(logs.map((l) => l.held.index)).toEqual([false, false, false, true, true]);
		expect(decode((await (logs[0] as EventLog).readFrames(5)).bytes)).toBe(frames(5));
		expect(logs.map((l) => l.held.index)).toEqual([true, false, false, false, true]);
	});

	it("migrates a stored log in the old line format when it is first read", async () => {
		writeFileSync(path, events.map((e) => `${e.id}\t${e.event}\t${JSON.stringify(e.data)}\n`).join(""));
		const log = stored();
		expect(decode((await log.readFrames(EVERY + 1)).bytes)).toBe(frames(EVERY + 1));
		expect(readFileSync(path, "utf8")).toBe(frames(0));
	});
});

describe("log index (pure)", () => {
	const frame = (id: number, text = "x") => eventToFrame({ ...output(text), id } as StoredEvent);

	it("extends an index with every whole frame in sequence and an offset per EVERY frames", () => {
		const text = Array.from({ length: EVERY + 2 }, (_, i) => frame(i + 1)).join("");
		const bytes = Buffer.from(`${text}event: output\nid: ${EVERY + 3}\ndata: {"ty`);
		const { index, starts } = extendIndex(EMPTY_INDEX, bytes, 0);
		expect(index.events).toBe(EVERY + 2);
		expect(index.size).toBe(Buffer.byteLength(text));
		expect(index.offsets).toEqual([0, starts[EVERY] as number]);
		expect(decodeIndex(encodeIndex(index))).toEqual(index);
	});

	it.each([
		["not JSON", "{"],
		["another stride", JSON.stringify({ v: 1, every: 32, events: 1, size: 10, offsets: [0] })],
		["too few offsets", JSON.stringify({ v: 1, every: EVERY, events: EVERY + 1, size: 10_000, offsets: [0] })],
		["offsets out of order", JSON.stringify({ v: 1, every: EVERY, events: EVERY + 1, size: 10_000, offsets: [0, 0] })],
		["an offset past the end", JSON.stringify({ v: 1, every: EVERY, events: 1, size: 10, offsets: [10] })],
	])("decodeIndex rejects %s", (_name, text) => {
		expect(decodeIndex(text)).toBeUndefined();
	});

	it("finds the id of the last whole frame in a log's tail, ignoring a torn one after it", () => {
		const whole = frame(41, "a") + frame(42, "b\nc");
		expect(lastFrameIdOfTail(Buffer.from(whole))).toBe(42);
		expect(lastFrameIdOfTail(Buffer.from(`${whole}event: output\nid: 43\ndata: {"t`))).toBe(42);
		// A tail that starts in the middle of a frame still finds the whole one after it.
		expect(lastFrameIdOfTail(Buffer.from(whole.slice(10)))).toBe(42);
		expect(lastFrameIdOfTail(Buffer.from(frame(7).slice(5)))).toBeUndefined();
	});

	it("reads the id from a frame's header alone", () => {
		expect(headerId(Buffer.from(frame(1234)))).toBe(1234);
		expect(headerId(Buffer.from("data: {}\n\n"))).toBeUndefined();
	});
});
