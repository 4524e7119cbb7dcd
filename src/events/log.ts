import {
	closeSync,
	fdatasync,
	fdatasyncSync,
	fstatSync,
	ftruncateSync,
	openSync,
	readSync,
	renameSync,
	writeSync,
} from "node:fs";
import type { LoggedEvent, StoredEvent } from "./catalogue";
import { decodeFrame, decodeLegacyRecord, eventToFrame, frameId } from "./record";

/** What `EventLog.open` found and repaired. */
export interface Recovery {
	readonly events: number;
	/** Bytes cut from the end: a frame torn by a crash mid-write. */
	readonly discardedBytes: number;
	/** Present when the file was in the line format of versions before 0.2 and was rewritten as frames. */
	readonly migrated?: true;
}

const ENCODER = new TextEncoder();
const FRAME_END = "\n\n";

/**
 * A session's append-only, numbered event log: each event stored as the SSE
 * frame it is sent as (see record.ts), so replay sends the bytes it reads.
 *
 * Ids start at 1 and are dense, so `offsets[id - 1]` is where event `id`
 * starts: replay from any id seeks instead of scanning. An event is written
 * (to the kernel) before `append` returns, i.e. before any subscriber sees it,
 * so it survives a crash of the sidecar; `sync()` makes it survive the machine.
 */
export class EventLog {
	private readonly offsets: number[] = [];
	private size = 0;
	private dirty = false;
	private syncing = false;
	private closeAfterSync = false;
	private lastEvent: StoredEvent | undefined;

	private constructor(
		readonly path: string,
		private fd: number | undefined,
	) {}

	/** Opens (creating if needed) and recovers a log: a torn last frame is cut off. */
	static open(path: string): { log: EventLog; recovery: Recovery } {
		const fd = openSync(path, "a+");
		const bytes = readWhole(fd);
		// A frame starts with "event: "; a record of the old line format with its id.
		if (bytes.length > 0 && isDigit(bytes[0] as number)) {
			closeSync(fd);
			return EventLog.migrate(path, bytes);
		}
		const log = new EventLog(path, fd);
		let start = 0;
		while (start < bytes.length) {
			const end = bytes.indexOf(FRAME_END, start);
			if (end === -1) break;
			// Headers only: parsing every payload would make opening a long log slow.
			if (frameId(bytes.toString("utf8", start, end)) !== log.offsets.length + 1) break;
			log.offsets.push(start);
			start = end + FRAME_END.length;
		}
		// The newest frame is parsed in full: `last` needs it, and a payload that does not parse is cut too.
		while (log.offsets.length > 0 && log.lastEvent === undefined) {
			const from = log.offsets[log.offsets.length - 1] as number;
			log.lastEvent = decodeFrame(bytes.toString("utf8", from, start - FRAME_END.length));
			if (!log.lastEvent) start = log.offsets.pop() as number;
		}
		if (start < bytes.length) ftruncateSync(fd, start);
		log.size = start;
		return {
			log,
			recovery: { events: log.offsets.length, discardedBytes: bytes.length - start },
		};
	}

	/** Rewrites a log of the old line format (`id<TAB>event<TAB>json`) as frames, atomically. */
	private static migrate(path: string, bytes: Buffer): { log: EventLog; recovery: Recovery } {
		const events: StoredEvent[] = [];
		let start = 0;
		while (start < bytes.length) {
			const end = bytes.indexOf(0x0a, start);
			if (end === -1) break;
			const record = decodeLegacyRecord(bytes.toString("utf8", start, end));
			if (!record || record.id !== events.length + 1) break;
			events.push(record);
			start = end + 1;
		}
		const tmp = `${path}.migrating`;
		const fd = openSync(tmp, "w");
		const frames = ENCODER.encode(events.map(eventToFrame).join(""));
		writeAll(fd, frames);
		fdatasyncSync(fd);
		closeSync(fd);
		renameSync(tmp, path);
		const { log } = EventLog.open(path);
		return { log, recovery: { events: events.length, discardedBytes: bytes.length - start, migrated: true } };
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
		return this.appendFrame(event).stored;
	}

	/** Numbers and stores an event; returns it and its frame, the bytes written to disk. */
	appendFrame(event: LoggedEvent): { stored: StoredEvent; frame: Uint8Array } {
		if (this.fd === undefined) throw new Error(`event log ${this.path} is closed`);
		const stored = { ...event, id: this.offsets.length + 1 } as StoredEvent;
		const frame = ENCODER.encode(eventToFrame(stored));
		writeAll(this.fd, frame);
		this.offsets.push(this.size);
		this.size += frame.byteLength;
		this.dirty = true;
		this.lastEvent = stored;
		return { stored, frame };
	}

	/**
	 * Byte range [start, end) holding the events after `afterId` that fit in
	 * `maxBytes` (always at least one event).
	 */
	private range(afterId: number, maxBytes: number): { start: number; end: number; lastId: number } {
		const start = this.offsets[afterId] ?? this.size;
		let lastId = afterId;
		let end = start;
		while (lastId < this.offsets.length) {
			const next = this.offsets[lastId + 1] ?? this.size;
			if (next - start > maxBytes && lastId > afterId) break;
			end = next;
			lastId++;
		}
		return { start, end, lastId };
	}

	/**
	 * Reads the events after `afterId` as SSE frames, up to about `maxBytes`:
	 * the stored bytes, sent as they are. Returns them and the id of the last one included.
	 */
	async readFrames(afterId: number, maxBytes = 256 * 1024): Promise<{ bytes: Uint8Array; lastId: number }> {
		const { start, end, lastId } = this.range(afterId, maxBytes);
		if (end === start) return { bytes: new Uint8Array(0), lastId: afterId };
		return { bytes: await Bun.file(this.path).slice(start, end).bytes(), lastId };
	}

	/** Reads every stored event after `afterId` (for tests and tools, not the hot path). */
	async readAll(afterId = 0): Promise<StoredEvent[]> {
		const { start } = this.range(afterId, 0);
		const raw = await Bun.file(this.path).slice(start, this.size).text();
		return raw
			.split(FRAME_END)
			.filter((f) => f !== "")
			.map((f) => decodeFrame(f) as StoredEvent);
	}

	/**
	 * Flushes written events to stable storage if anything changed since the
	 * last call. The flush runs off the event loop, so a slow disk never delays
	 * delivery; at most one is in flight.
	 */
	sync(): void {
		if (this.fd === undefined || !this.dirty || this.syncing) return;
		const fd = this.fd;
		this.dirty = false;
		this.syncing = true;
		fdatasync(fd, () => {
			this.syncing = false;
			if (this.closeAfterSync) closeSync(fd);
		});
	}

	/** Flushes written events to stable storage now, waiting for the disk (at shutdown). */
	flush(): void {
		if (this.fd === undefined || !this.dirty) return;
		this.dirty = false;
		fdatasyncSync(this.fd);
	}

	/** Flushes what is left and closes; appends after this throw. */
	close(): void {
		if (this.fd === undefined) return;
		const fd = this.fd;
		this.fd = undefined;
		if (this.dirty) fdatasyncSync(fd);
		// A flush in flight still uses the descriptor: it closes it when done.
		if (this.syncing) this.closeAfterSync = true;
		else closeSync(fd);
	}
}

function isDigit(byte: number): boolean {
	return byte >= 0x30 && byte <= 0x39;
}

function readWhole(fd: number): Buffer {
	const length = fstatSync(fd).size;
	const bytes = Buffer.allocUnsafe(length);
	let read = 0;
	while (read < length) read += readSync(fd, bytes, read, length - read, read);
	return bytes;
}

function writeAll(fd: number, bytes: Uint8Array): void {
	let written = 0;
	while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
}
