import { frameId } from "./record";

/**
 * The sparse index of an event log: the byte offset of every `EVERY`th frame
 * (`offsets[k]` is where event `k * EVERY + 1` starts). Replay from any id
 * seeks to the nearest indexed frame before it and skips at most EVERY - 1
 * frames (a few KiB); memory is 1/EVERY of a dense index, so a long run costs
 * little and a stored one costs nothing until it is read.
 */
export const EVERY = 64;

const FRAME_END = "\n\n";

/** What is known about a log's frames: events 1..events, ending at byte `size`. */
export interface LogIndex {
	readonly events: number;
	readonly size: number;
	readonly offsets: number[];
}

export const EMPTY_INDEX: LogIndex = { events: 0, size: 0, offsets: [] };

/**
 * Scans frames in `bytes` (which start at file offset `base`, right after
 * event `index.events`) and extends the index with every whole frame whose id
 * follows in sequence. Stops at the first torn or out-of-sequence frame.
 * Returns the extended index and the starts of the frames it scanned (for
 * recovery, which checks the newest payloads).
 */
export function extendIndex(index: LogIndex, bytes: Buffer, base: number): { index: LogIndex; starts: number[] } {
	const offsets = [...index.offsets];
	const starts: number[] = [];
	let events = index.events;
	let at = 0;
	while (at < bytes.length) {
		const end = bytes.indexOf(FRAME_END, at);
		if (end === -1) break;
		// Headers only: parsing every payload would make indexing a long log slow.
		if (frameId(bytes.toString("utf8", at, end)) !== events + 1) break;
		if (events % EVERY === 0) offsets.push(base + at);
		starts.push(base + at);
		events++;
		at = end + FRAME_END.length;
	}
	return { index: { events, size: base + at, offsets }, starts };
}

/** Drops the index entries of events after `events` (a cut tail), given where the log now ends. */
export function truncateIndex(index: LogIndex, events: number, size: number): LogIndex {
	return { events, size, offsets: index.offsets.slice(0, Math.ceil(events / EVERY)) };
}

/** Where replay after `afterId` starts looking: an indexed frame start and the id before it. */
export function seekPoint(index: LogIndex, afterId: number): { offset: number; before: number } {
	const k = Math.min(Math.floor(afterId / EVERY), index.offsets.length - 1);
	return { offset: index.offsets[k] ?? 0, before: k * EVERY };
}

/**
 * Counts whole frames in `bytes` from `at`, up to `max` of them: returns how
 * many and where the last one counted ends.
 */
export function countFrames(bytes: Uint8Array, max: number, at = 0): { frames: number; end: number } {
	const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	let frames = 0;
	let end = at;
	while (frames < max) {
		const e = buf.indexOf(FRAME_END, end);
		if (e === -1) break;
		end = e + FRAME_END.length;
		frames++;
	}
	return { frames, end };
}

/** The index file's text (`events.log.idx`): JSON, small (8 bytes per EVERY events). */
export function encodeIndex(index: LogIndex): string {
	return JSON.stringify({ v: 1, every: EVERY, events: index.events, size: index.size, offsets: index.offsets });
}

/** Parses an index file; undefined for anything that is not a consistent index of this format. */
export function decodeIndex(text: string): LogIndex | undefined {
	try {
		const v = JSON.parse(text) as Record<string, unknown>;
		const { events, size, offsets } = v;
		if (v.v !== 1 || v.every !== EVERY) return undefined;
		if (!Number.isSafeInteger(events) || !Number.isSafeInteger(size) || !Array.isArray(offsets)) return undefined;
		const n = events as number;
		if (n < 0 || (size as number) < 0 || offsets.length !== Math.ceil(n / EVERY)) return undefined;
		let previous = -1;
		for (const o of offsets) {
			if (!Number.isSafeInteger(o) || o <= previous || o >= (size as number)) return undefined;
			previous = o;
		}
		if (n > 0 && offsets[0] !== 0) return undefined;
		return { events: n, size: size as number, offsets: offsets as number[] };
	} catch {
		return undefined;
	}
}

/**
 * The id of the last whole frame in the tail of a log (`tail` ends at the end
 * of the file); undefined when the tail holds no whole frame with its header.
 * Used once per stored session written before records kept `last_event_id`.
 */
export function lastFrameIdOfTail(tail: Buffer): number | undefined {
	let end = tail.lastIndexOf(FRAME_END);
	while (end > 0) {
		const before = tail.lastIndexOf(FRAME_END, end - 1);
		const start = before === -1 ? 0 : before + FRAME_END.length;
		const id = frameId(tail.toString("utf8", start, end));
		if (id !== undefined) return id;
		if (before === -1) return undefined;
		end = before;
	}
	return undefined;
}

/** The id in the header of the frame `bytes` start with (`event: E\nid: N\n`); undefined if they do not start with one. */
export function headerId(bytes: Uint8Array): number | undefined {
	const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 256)).toString("latin1");
	const m = /^event: [^\n]*\nid: (\d+)\n/.exec(text);
	return m ? Number(m[1]) : undefined;
}
