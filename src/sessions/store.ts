import { closeSync, fstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventLog, type LogOptions, type Recovery } from "../events/log";
import { type LogFiles, NODE_FILES, readRangeSync } from "../events/log-files";
import { lastFrameIdOfTail } from "../events/log-index";
import { RecentLogs } from "../events/recent";
import { readAhead } from "../lib/readahead";
import { isEnded, type SessionRecord } from "./record";

/** Stored logs whose index stays in memory after a read (a few KiB each); older ones reload theirs from disk. */
export const RECENT_LOGS = 32;

export interface SessionStoreOptions {
	/** How logs are opened (default: node's); tests count opens through it. */
	readonly files?: LogFiles;
	readonly recentLogs?: number;
}

/**
 * Where sessions live on disk: `<stateDir>/sessions/<session_id>/` holding
 * `session.json` (the record), `events.log` (the numbered event log) and
 * `events.log.idx` (its index, written when a run ends) and `workspace-start.json`
 * (the workspace before its first run, for its diff: see workspace/start-state.ts).
 *
 * Start costs O(running sessions): an ended session is loaded from its record
 * alone (which holds its `last_event_id`); its log is opened on its first read.
 */
export class SessionStore {
	readonly root: string;
	private readonly logOptions: LogOptions;

	constructor(stateDir: string, options: SessionStoreOptions = {}) {
		this.root = join(stateDir, "sessions");
		mkdirSync(this.root, { recursive: true, mode: 0o700 });
		this.logOptions = {
			files: options.files ?? NODE_FILES,
			recent: new RecentLogs(options.recentLogs ?? RECENT_LOGS),
		};
	}

	private dir(id: string): string {
		return join(this.root, id);
	}

	/** A file of session `id`'s, in its directory (removed with it). */
	fileOf(id: string, name: string): string {
		return join(this.dir(id), name);
	}

	private logPath(id: string): string {
		return join(this.dir(id), "events.log");
	}

	/** Creates a new session's directory and empty log. */
	create(record: SessionRecord): EventLog {
		mkdirSync(this.dir(record.session_id), { recursive: true, mode: 0o700 });
		this.save(record);
		return EventLog.open(this.logPath(record.session_id), this.logOptions).log;
	}

	/** Writes the record atomically (a crash leaves the old or the new one, never half). */
	save(record: SessionRecord): void {
		const file = join(this.dir(record.session_id), "session.json");
		const tmp = `${file}.tmp`;
		writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
		renameSync(tmp, file);
	}

	/**
	 * Loads every stored session; unreadable ones are reported, not fatal.
	 * Logs of runs that were in progress are opened and recovered (a torn
	 * tail cut); those of ended sessions are not opened.
	 */
	loadAll(): {
		loaded: { record: SessionRecord; log: EventLog; recovery: Recovery }[];
		broken: { id: string; reason: string }[];
	} {
		const loaded: { record: SessionRecord; log: EventLog; recovery: Recovery }[] = [];
		const broken: { id: string; reason: string }[] = [];
		const ids = readdirSync(this.root);
		readAhead(ids.map((id) => join(this.dir(id), "session.json")));
		for (const id of ids) {
			try {
				const record = JSON.parse(readFileSync(join(this.dir(id), "session.json"), "utf8")) as SessionRecord;
				if (record.session_id !== id) throw new Error("record names another session");
				loaded.push({ record, ...this.openLog(record) });
			} catch (error) {
				broken.push({
					id,
					reason: error instanceof Error ? error.message : String(error),
				});
			}
		}
		return { loaded, broken };
	}

	private openLog(record: SessionRecord): { log: EventLog; recovery: Recovery } {
		const path = this.logPath(record.session_id);
		if (!isEnded(record)) return EventLog.open(path, this.logOptions);
		let lastId = record.last_event_id;
		if (lastId === undefined) {
			// Stored by a version before records kept it: found once, from the log's tail, and kept.
			const found = this.lastIdFromTail(path);
			if (found === undefined) {
				// Not frames (the line format before 0.2) or no whole frame: opened, migrated and recovered once.
				const opened = EventLog.open(path, this.logOptions);
				opened.log.seal();
				record.last_event_id = opened.log.lastId;
				this.save(record);
				return opened;
			}
			lastId = found;
			record.last_event_id = lastId;
			this.save(record);
		}
		return {
			log: EventLog.stored(path, { lastId, atRest: true }, this.logOptions),
			recovery: { events: lastId, discardedBytes: 0 },
		};
	}

	/** The id of the last whole frame, reading only the end of the log; undefined for a log that is not frames. */
	private lastIdFromTail(path: string): number | undefined {
		const fd = (this.logOptions.files ?? NODE_FILES).openSync(path, "r");
		try {
			const size = fstatSync(fd).size;
			if (readRangeSync(fd, 0, 1)[0] !== "e".charCodeAt(0)) return undefined;
			for (let tail = 64 * 1024; ; tail *= 4) {
				const from = Math.max(0, size - tail);
				const id = lastFrameIdOfTail(readRangeSync(fd, from, size));
				if (id !== undefined || from === 0) return id;
			}
		} finally {
			closeSync(fd);
		}
	}
}
