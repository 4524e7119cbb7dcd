import {
	closeSync,
	constants,
	fdatasync,
	fdatasyncSync,
	fstatSync,
	ftruncateSync,
	openSync,
	renameSync,
	writeFileSync,
	writeSync,
} from "node:fs";
import { type FrameMac, MAC_BYTES, verifyFrames } from "../security/stored-mac";
import { isTerminal, type LoggedEvent, type StoredEvent } from "./catalogue";
import { type LogFiles, NODE_FILES, readFileFrom, readTailSync } from "./log-files";
import {
	countFrames,
	decodeIndex,
	EMPTY_INDEX,
	EVERY,
	encodeIndex,
	extendIndex,
	headerId,
	type LogIndex,
	seekPoint,
	truncateIndex,
} from "./log-index";
import { isLegacy, migrate } from "./log-migrate";
import type { RecentLogs } from "./recent";
import { decodeFrame, eventToFrame } from "./record";

/** What `EventLog.open` found and repaired. */
export interface Recovery {
	readonly events: number;
	/** Bytes cut from the end: a frame torn by a crash mid-write. */
	readonly discardedBytes: number;
	/** Present when the file was in the line format of versions before 0.2 and was rewritten as frames. */
	readonly migrated?: true;
}

export interface LogOptions {
	/** How files are opened (default: node's `openSync`); tests count opens through it. */
	readonly files?: LogFiles;
	/** Stored logs read recently; the oldest drops its index when the set is full. */
	readonly recent?: RecentLogs;
	/**
	 * Signs every appended frame (its MAC goes to `events.log.mac`, MAC_BYTES per event at
	 * `(id - 1) * MAC_BYTES`) and, unless `checkMacs` is false, verifies every frame a replay reads.
	 */
	readonly mac?: FrameMac | (() => FrameMac);
	/** False: frames are read unchecked (a log no key here can verify; the caller flags it). Default true. */
	readonly checkMacs?: boolean;
}

/** A replay read: whole frames, and the id of the first frame that failed verification, if one did. */
export interface FramesRead {
	readonly bytes: Uint8Array;
	readonly lastId: number;
	/** The frame after `lastId` is not the sidecar's own (its MAC or id does not verify): not sent. */
	readonly unverified?: number;
}

/** What a stored log is known by before it is opened: its session's record says so. */
export interface StoredSummary {
	readonly lastId: number;
	/** Its newest event ends a run (true for every ended session). */
	readonly atRest: boolean;
}

const ENCODER = new TextEncoder();
const FRAME_END_BYTES = 2;
/** First window read when skipping to a replay's start (at most EVERY - 1 frames). */
const SEEK_WINDOW = 16 * 1024;

class IndexMismatch extends Error {}

/**
 * A session's append-only, numbered event log: each event stored as the SSE
 * frame it is sent as (see record.ts), so replay sends the bytes it reads.
 * Hand-written: no maintained library keeps an append-only log of SSE frames with torn-tail repair.
 *
 * Ids start at 1 and are dense; a sparse index (log-index.ts) makes replay
 * from any id a seek. A log is held open (one descriptor, its index in
 * memory) only while its run writes to it; `seal()` at the end of a run
 * writes the index beside it (`events.log.idx`) and lets the descriptor go.
 * A stored log (`EventLog.stored`) is opened on its first read, from that
 * index; reads open the file by path for the read only.
 *
 * An event is written (to the kernel) before `append` returns, i.e. before
 * any subscriber sees it, so it survives a crash of the sidecar; `sync()`
 * makes it survive the machine.
 */
export class EventLog {
	/** Undefined while not loaded: a stored log not read yet, or one released by `RecentLogs`. */
	private offsets: number[] | undefined;
	private events: number;
	private size = 0;
	private fd: number | undefined;
	private closed = false;
	private dirty = false;
	private syncing = false;
	/** Background flushes (and closes of released descriptors), in order. */
	private flight: Promise<void> = Promise.resolve();
	/**
	 * Whether the newest event ends a run, once this process has read or written it. Only that is
	 * kept, not the event: a `complete` holds the run's whole final message (issue 13).
	 */
	private lastTerminal: boolean | undefined;
	private readonly restsAt: boolean;
	/** The index file did not match the log: rebuild from the log alone. */
	private distrustIndexFile = false;
	private indexChecked = false;
	private readonly files: LogFiles;
	private readonly recent: RecentLogs | undefined;
	/** Made on first use: a stored log that is never read costs no keyed hasher (~2 KB). */
	private macOption: FrameMac | (() => FrameMac) | undefined;
	private readonly checkMacs: boolean;
	/** The MAC file's descriptor, held with `fd`. */
	private macFd: number | undefined;
	readonly indexPath: string;
	readonly macPath: string;

	private constructor(
		readonly path: string,
		options: LogOptions,
		summary: StoredSummary,
	) {
		this.files = options.files ?? NODE_FILES;
		this.recent = options.recent;
		this.events = summary.lastId;
		this.restsAt = summary.atRest;
		this.indexPath = `${path}.idx`;
		this.macPath = `${path}.mac`;
		this.macOption = options.mac;
		this.checkMacs = options.checkMacs ?? true;
	}

	/**
	 * Opens (creating if needed) a log to write to and recovers it: a torn last
	 * frame is cut off. Reads the whole log; used for new logs and for the logs
	 * of runs that were in progress when the process stopped.
	 */
	static open(path: string, options: LogOptions = {}): { log: EventLog; recovery: Recovery } {
		const files = options.files ?? NODE_FILES;
		const fd = files.openSync(path, "a+");
		const bytes = readTailSync(fd);
		if (isLegacy(bytes)) {
			closeSync(fd);
			const migration = migrate(path, bytes);
			const { log } = EventLog.open(path, options);
			return { log, recovery: { ...migration, migrated: true } };
		}
		const scanned = extendIndex(EMPTY_INDEX, bytes, 0);
		// The newest frame is parsed in full: `last` needs it, and a payload that does not parse is cut too.
		let events = scanned.index.events;
		let end = scanned.index.size;
		let last: StoredEvent | undefined;
		while (events > 0 && last === undefined) {
			const from = scanned.starts[events - 1] as number;
			last = decodeFrame(bytes.toString("utf8", from, end - FRAME_END_BYTES));
			if (!last) {
				end = from;
				events--;
			}
		}
		if (end < bytes.length) ftruncateSync(fd, end);
		const log = new EventLog(path, options, { lastId: events, atRest: false });
		const index = truncateIndex(scanned.index, events, end);
		log.offsets = index.offsets;
		log.size = end;
		log.fd = fd;
		log.openMacs();
		log.lastTerminal = last && isTerminal(last);
		return { log, recovery: { events, discardedBytes: bytes.length - end } };
	}

	/** A stored log, known by its summary; nothing is opened until it is read or appended to. */
	static stored(path: string, summary: StoredSummary, options: LogOptions = {}): EventLog {
		return new EventLog(path, options, summary);
	}

	/** Highest id stored; 0 when empty. */
	get lastId(): number {
		return this.events;
	}

	/** True when the newest event ends a run: nothing more comes unless a new run starts. */
	get atRest(): boolean {
		return this.lastTerminal ?? (this.events > 0 && this.restsAt);
	}

	/** Whether a descriptor is held (a run is writing) or the index is in memory; for tests and metrics. */
	get held(): { descriptor: boolean; index: boolean } {
		return { descriptor: this.fd !== undefined, index: this.offsets !== undefined };
	}

	/** Numbers and stores an event; returns it with its id. */
	append(event: LoggedEvent): StoredEvent {
		return this.appendFrame(event).stored;
	}

	/** Numbers and stores an event; returns it and its frame, the bytes written to disk. */
	appendFrame(event: LoggedEvent): { stored: StoredEvent; frame: Uint8Array } {
		if (this.closed) throw new Error(`event log ${this.path} is closed`);
		const fd = this.fd ?? this.reopen();
		const offsets = this.offsets as number[];
		const stored = { ...event, id: this.events + 1 } as StoredEvent;
		const frame = ENCODER.encode(eventToFrame(stored));
		// The MAC first: a crash between the two leaves a MAC without its frame (cut at recovery), never the reverse.
		if (this.mac && this.macFd !== undefined) writeAll(this.macFd, this.mac.sign(frame), this.events * MAC_BYTES);
		writeAll(fd, frame);
		if (this.events % EVERY === 0) offsets.push(this.size);
		this.events++;
		this.size += frame.byteLength;
		this.dirty = true;
		this.lastTerminal = isTerminal(stored);
		return { stored, frame };
	}

	/** A stored log gets a new run: its descriptor again, after anything past its last whole frame is cut. */
	private reopen(): number {
		this.load();
		const fd = this.files.openSync(this.path, "a+");
		if (fstatSync(fd).size > this.size) ftruncateSync(fd, this.size);
		this.fd = fd;
		this.openMacs();
		this.recent?.forget(this);
		return fd;
	}

	private get mac(): FrameMac | undefined {
		if (typeof this.macOption === "function") this.macOption = this.macOption();
		return this.macOption;
	}

	/** Opens the MAC file beside the log, one MAC per stored event (missing ones are zeros: they never verify). */
	private openMacs(): void {
		if (!this.mac) return;
		const fd = openSync(this.macPath, constants.O_RDWR | constants.O_CREAT, 0o600);
		ftruncateSync(fd, this.events * MAC_BYTES);
		this.macFd = fd;
	}

	private closeMacs(): void {
		if (this.macFd === undefined) return;
		const fd = this.macFd;
		this.macFd = undefined;
		this.flight = this.flight.then(() => datasync(fd)).finally(() => closeSync(fd));
	}

	/** The index in memory, loading it if needed (from the index file, then the frames after it). */
	private load(): number[] {
		if (this.offsets) return this.offsets;
		const text = this.distrustIndexFile ? undefined : readFileFrom(this.files, this.indexPath);
		let index = (text && decodeIndex(text.toString("utf8"))) || EMPTY_INDEX;
		const fd = this.files.openSync(this.path, "r");
		let tail: Buffer;
		try {
			if (index.size > fstatSync(fd).size) index = EMPTY_INDEX;
			tail = readTailSync(fd, index.size);
		} finally {
			closeSync(fd);
		}
		if (index.events === 0 && isLegacy(tail)) {
			migrate(this.path, tail);
			return this.load();
		}
		const scanned = extendIndex(index, tail, index.size).index;
		this.offsets = scanned.offsets;
		this.size = scanned.size;
		this.events = scanned.events;
		this.distrustIndexFile = false;
		this.indexChecked = false;
		// A log written before index files, or whose last run did not get to write one: next time is a seek.
		if (scanned.events !== index.events || text === undefined) this.writeIndex();
		return this.offsets;
	}

	/**
	 * Reads the events after `afterId` as SSE frames, up to about `maxBytes`
	 * (always at least one event): the stored bytes, sent as they are.
	 * Returns them and the id of the last one included.
	 */
	async readFrames(afterId: number, maxBytes = 256 * 1024): Promise<FramesRead> {
		let read: { bytes: Uint8Array; lastId: number };
		try {
			read = await this.readFramesOnce(afterId, maxBytes);
		} catch (error) {
			if (!(error instanceof IndexMismatch)) throw error;
			// The index file did not describe this log (written before a crash, say): rebuild it from the frames.
			this.offsets = undefined;
			this.distrustIndexFile = true;
			read = await this.readFramesOnce(afterId, maxBytes);
		}
		return this.verified(read, afterId);
	}

	/**
	 * Only frames that carry the next id and their MAC leave: the agent can rewrite the log, its
	 * index and its MAC file, but not sign. So a forged index can only make a read refuse, never
	 * send a frame out of place.
	 */
	private async verified(read: { bytes: Uint8Array; lastId: number }, afterId: number): Promise<FramesRead> {
		if (!this.mac || !this.checkMacs || read.lastId <= afterId) return read;
		let macs: Uint8Array;
		try {
			macs = await this.files.read(this.macPath, afterId * MAC_BYTES, read.lastId * MAC_BYTES);
		} catch {
			macs = new Uint8Array(0);
		}
		const checked = verifyFrames(this.mac, read.bytes, afterId + 1, macs);
		if (checked.failed === undefined) return read;
		return { bytes: read.bytes.subarray(0, checked.end), lastId: afterId + checked.frames, unverified: checked.failed };
	}

	private async readFramesOnce(afterId: number, maxBytes: number): Promise<{ bytes: Uint8Array; lastId: number }> {
		const nothing = { bytes: new Uint8Array(0), lastId: afterId };
		if (afterId >= this.events && this.offsets) return nothing;
		const index: LogIndex = { offsets: this.load(), events: this.events, size: this.size };
		if (this.fd === undefined) this.recent?.touch(this);
		if (afterId >= index.events) return nothing;
		let { offset, before } = seekPoint(index, afterId);
		const read = async (from: number, length: number) =>
			Buffer.from(await this.files.read(this.path, from, Math.min(index.size, from + length)));
		// One read usually holds the frames to skip (fewer than EVERY) and the ones to send.
		let bytes = await read(offset, SEEK_WINDOW + maxBytes);
		// Once per load: the indexed frame must be the one the index names, or the index is not this log's.
		if (!this.indexChecked) {
			if (headerId(bytes) !== before + 1) throw new IndexMismatch();
			this.indexChecked = true;
		}
		let at = 0;
		for (let window = SEEK_WINDOW; before < afterId; ) {
			const skipped = countFrames(bytes, afterId - before, at);
			before += skipped.frames;
			at = skipped.end;
			if (before === afterId) break;
			// Frames larger than the read: read on from the last whole one.
			if (offset + bytes.length >= index.size) throw new IndexMismatch();
			offset += at;
			at = 0;
			window *= 2;
			bytes = await read(offset, window);
		}
		offset += at;
		bytes = bytes.subarray(at);
		if (bytes.length < Math.min(maxBytes, index.size - offset)) bytes = await read(offset, maxBytes);
		const first = countFrames(bytes.subarray(0, maxBytes), index.events - afterId);
		if (first.frames > 0) return { bytes: bytes.subarray(0, first.end), lastId: afterId + first.frames };
		// One event larger than maxBytes: it alone.
		for (let want = maxBytes * 2; ; want *= 2) {
			const big = await read(offset, want);
			const { frames, end } = countFrames(big, 1);
			if (frames > 0) return { bytes: big.subarray(0, end), lastId: afterId + 1 };
			if (offset + want >= index.size) throw new IndexMismatch();
		}
	}

	/** Reads every stored event after `afterId` (for tests and tools, not the hot path). */
	async readAll(afterId = 0): Promise<StoredEvent[]> {
		const out: StoredEvent[] = [];
		let cursor = afterId;
		while (cursor < this.events) {
			const { bytes, lastId } = await this.readFrames(cursor, 1024 * 1024);
			if (lastId <= cursor) break;
			const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
			for (const f of text.split("\n\n")) if (f !== "") out.push(decodeFrame(f) as StoredEvent);
			cursor = lastId;
		}
		return out;
	}

	/**
	 * Flushes written events to stable storage if anything changed since the
	 * last call. The flush runs off the event loop, so a slow disk never delays
	 * delivery; at most one is in flight.
	 */
	sync(): void {
		if (this.fd === undefined || !this.dirty || this.syncing) return;
		const fd = this.fd;
		const macFd = this.macFd;
		this.dirty = false;
		this.syncing = true;
		this.flight = this.flight
			.then(() => datasync(fd))
			.then(() => (macFd === undefined ? undefined : datasync(macFd)))
			.finally(() => {
				this.syncing = false;
			});
	}

	/** Flushes written events to stable storage now, waiting for the disk (at shutdown). */
	flush(): void {
		if (this.fd === undefined || !this.dirty) return;
		this.dirty = false;
		fdatasyncSync(this.fd);
		if (this.macFd !== undefined) fdatasyncSync(this.macFd);
	}

	/**
	 * The run writing to this log ended: writes the index beside the log, and
	 * flushes and closes the descriptor in the background. A later run
	 * (follow-up) opens it again.
	 */
	seal(): void {
		if (this.fd === undefined) return;
		this.writeIndex();
		const fd = this.fd;
		const dirty = this.dirty;
		this.fd = undefined;
		this.dirty = false;
		this.flight = this.flight.then(() => (dirty ? datasync(fd) : undefined)).finally(() => closeSync(fd));
		this.closeMacs();
		this.recent?.touch(this);
	}

	/** Resolves when background flushes and closes started so far are done (for tests and shutdown). */
	settled(): Promise<void> {
		return this.flight;
	}

	/** Drops the index from memory (the least recently read stored log); a running log keeps everything. */
	release(): void {
		if (this.fd === undefined) this.offsets = undefined;
	}

	/** Flushes what is left and closes for good; appends after this throw. */
	close(): void {
		this.closed = true;
		this.recent?.forget(this);
		const macFd = this.macFd;
		this.macFd = undefined;
		if (macFd !== undefined) {
			if (this.dirty) fdatasyncSync(macFd);
			if (this.syncing) this.flight = this.flight.finally(() => closeSync(macFd));
			else closeSync(macFd);
		}
		if (this.fd === undefined) return;
		const fd = this.fd;
		this.fd = undefined;
		if (this.dirty) fdatasyncSync(fd);
		this.dirty = false;
		// A flush in flight still uses the descriptor: it closes it when done.
		if (this.syncing) this.flight = this.flight.finally(() => closeSync(fd));
		else closeSync(fd);
	}

	/** Writes the index file atomically; best effort: without it, the next first read scans the log. */
	private writeIndex(): void {
		if (!this.offsets) return;
		const tmp = `${this.indexPath}.tmp`;
		try {
			writeFileSync(tmp, encodeIndex({ events: this.events, size: this.size, offsets: this.offsets }), {
				mode: 0o600,
			});
			renameSync(tmp, this.indexPath);
		} catch {
			// A missing or stale index is detected and rebuilt on the next read.
		}
	}
}

function datasync(fd: number): Promise<void> {
	// A failed flush leaves the data in the kernel, as before the call: nothing to undo.
	return new Promise((resolve) => fdatasync(fd, () => resolve()));
}

/** Writes all of `bytes`, at `position` (a file not opened to append) or at the end. */
function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
	let written = 0;
	while (written < bytes.byteLength)
		written += writeSync(
			fd,
			bytes,
			written,
			bytes.byteLength - written,
			position === undefined ? null : position + written,
		);
}
