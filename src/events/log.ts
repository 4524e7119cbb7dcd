import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import type { LoggedEvent, StoredEvent } from "./catalogue";
import { decodeRecord, encodeRecord, recordToFrame } from "./record";

/** What `EventLog.open` found and repaired. */
export interface Recovery {
	readonly events: number;
	/** Bytes cut from the end: a record torn by a crash mid-write. */
	readonly discardedBytes: number;
}

const NEWLINE = 0x0a;
/** A frame is its record (with newline) plus `event: `, `\nid: `, `\ndata: `, `\n\n` less two tabs and the newline. */
const FRAME_OVERHEAD = 7 + 5 + 7 + 2 - 3;

/**
 * A session's append-only, numbered event log, one record per line.
 *
 * Ids start at 1 and are dense, so `offsets[id - 1]` is where event `id`
 * starts: replay from any id seeks instead of scanning. An event is written
 * (to the kernel) before `append` returns, i.e. before any subscriber sees it,
 * so it survives a crash of the sidecar; `sync()` makes it survive the machine.
 */
export class EventLog {
	private readonly offsets: number[] = [];
	private size: number;
	private dirty = false;
	private lastEvent: StoredEvent | undefined;

	private constructor(
		readonly path: string,
		private fd: number | undefined,
		size: number,
	) {
		this.size = size;
	}

	/** Opens (creating if needed) and recovers a log: a torn last record is cut off. */
	static open(path: string): { log: EventLog; recovery: Recovery } {
		const fd = openSync(path, "a+");
		const length = fstatSync(fd).size;
		const bytes = Buffer.allocUnsafe(length);
		let read = 0;
		while (read < length) read += readSync(fd, bytes, read, length - read, read);
		const log = new EventLog(path, fd, 0);
		let start = 0;
		let last: StoredEvent | undefined;
		while (start < length) {
			const end = bytes.indexOf(NEWLINE, start);
			if (end === -1) break;
			const record = decodeRecord(bytes.toString("utf8", start, end));
			if (!record || record.id !== log.offsets.length + 1) break;
			log.offsets.push(start);
			last = record;
			start = end + 1;
		}
		if (start < length) ftruncateSync(fd, start);
		log.size = start;
		log.lastEvent = last;
		return {
			log,
			recovery: { events: log.offsets.length, discardedBytes: length - start },
		};
	}

	/** Highest id stored; 0 when empty. */
	get lastId(): number {
		return this.offsets.length;
	}

	/** The newest stored event, if any. */
	get last(): StoredEvent | undefined {
		return this.lastEvent;
	}

	/** Numbers and stores an event; returns it with its id. */
	append(event: LoggedEvent): StoredEvent {
		if (this.fd === undefined) throw new Error(`event log ${this.path} is closed`);
		const stored = { ...event, id: this.offsets.length + 1 } as StoredEvent;
		const line = Buffer.from(`${encodeRecord(stored)}\n`, "utf8");
		let written = 0;
		while (written < line.length) written += writeSync(this.fd, line, written, line.length - written);
		this.offsets.push(this.size);
		this.size += line.length;
		this.dirty = true;
		this.lastEvent = stored;
		return stored;
	}

	/**
	 * Byte range [start, end) holding events after `afterId` whose SSE frames
	 * total at most `maxBytes` (always at least one event).
	 */
	private range(afterId: number, maxBytes: number): { start: number; end: number; lastId: number } {
		const start = this.offsets[afterId] ?? this.size;
		let lastId = afterId;
		let end = start;
		while (lastId < this.offsets.length) {
			const next = this.offsets[lastId + 1] ?? this.size;
			const frames = next - start + FRAME_OVERHEAD * (lastId + 1 - afterId);
			if (frames > maxBytes && lastId > afterId) break;
			end = next;
			lastId++;
		}
		return { start, end, lastId };
	}

	/**
	 * Reads events after `afterId` as SSE frames, up to about `maxBytes`.
	 * Returns the frames' text and the id of the last one included.
	 */
	async readFrames(afterId: number, maxBytes = 256 * 1024): Promise<{ text: string; lastId: number }> {
		const { start, end, lastId } = this.range(afterId, maxBytes);
		if (end === start) return { text: "", lastId: afterId };
		const raw = await Bun.file(this.path).slice(start, end).text();
		let text = "";
		let from = 0;
		while (from < raw.length) {
			const nl = raw.indexOf("\n", from);
			text += recordToFrame(raw.slice(from, nl));
			from = nl + 1;
		}
		return { text, lastId };
	}

	/** Reads every stored event after `afterId` (for tests and tools, not the hot path). */
	async readAll(afterId = 0): Promise<StoredEvent[]> {
		const { start } = this.range(afterId, 0);
		const raw = await Bun.file(this.path).slice(start, this.size).text();
		return raw
			.split("\n")
			.filter((l) => l !== "")
			.map((l) => decodeRecord(l) as StoredEvent);
	}

	/** Flushes written events to stable storage if anything changed since the last call. */
	sync(): void {
		if (this.fd === undefined || !this.dirty) return;
		fdatasyncSync(this.fd);
		this.dirty = false;
	}

	close(): void {
		if (this.fd === undefined) return;
		this.sync();
		closeSync(this.fd);
		this.fd = undefined;
	}
}
