import { closeSync, fstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventLog, type LogOptions, type Recovery } from "../events/log";
import { type LogFiles, NODE_FILES, readRangeSync } from "../events/log-files";
import { lastFrameIdOfTail } from "../events/log-index";
import { RecentLogs } from "../events/recent";
import { readAhead } from "../lib/readahead";
import {
	FrameMac,
	frameKey,
	openRecord,
	type RecordProblem,
	type StoredDataKeys,
	signRecord,
	storedDataKeys,
} from "../security/stored-mac";
import { isEnded, type SessionRecord } from "./record";

/** Stored logs whose index stays in memory after a read (a few KiB each); older ones reload theirs from disk. */
export const RECENT_LOGS = 32;

export interface SessionStoreOptions {
	/** How logs are opened (default: node's); tests count opens through it. */
	readonly files?: LogFiles;
	readonly recentLogs?: number;
	/** The keys records and logs are signed with (default: random for this process, as without OPENCODE_SHARED_SECRET). */
	readonly keys?: StoredDataKeys;
}

/** A stored session as loaded: `problem` says why its record is not the sidecar's own (see stored-mac.ts). */
export interface LoadedSession {
	readonly record: SessionRecord;
	readonly log: EventLog;
	readonly recovery: Recovery;
	readonly problem?: RecordProblem;
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
	readonly keys: StoredDataKeys;
	/**
	 * Sessions whose record did not verify when loaded: saved unsigned from then on, so a change
	 * the agent made is never signed as the sidecar's own by a later save.
	 */
	private readonly unverified = new Set<string>();

	constructor(stateDir: string, options: SessionStoreOptions = {}) {
		this.root = join(stateDir, "sessions");
		mkdirSync(this.root, { recursive: true, mode: 0o700 });
		this.logOptions = {
			files: options.files ?? NODE_FILES,
			recent: new RecentLogs(options.recentLogs ?? RECENT_LOGS),
		};
		this.keys = options.keys ?? storedDataKeys(undefined);
	}

	/** Whether the session's record is the sidecar's own (written by it, or loaded and verified). */
	verified(id: string): boolean {
		return !this.unverified.has(id);
	}

	/**
	 * How a session's log is opened: its frames signed, and verified on replay unless no key here can
	 * verify them (an unverified record without the shared secret: written by an earlier process).
	 */
	private logOptionsFor(id: string): LogOptions {
		return {
			...this.logOptions,
			mac: () => new FrameMac(frameKey(this.keys.events, id)),
			checkMacs: this.verified(id) || this.keys.stable,
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
		this.unverified.delete(record.session_id);
		this.save(record);
		return EventLog.open(this.logPath(record.session_id), this.logOptionsFor(record.session_id)).log;
	}

	/** Writes the record atomically (a crash leaves the old or the new one, never half), signed unless it was loaded unverified. */
	save(record: SessionRecord): void {
		const id = record.session_id;
		const file = join(this.dir(id), "session.json");
		const tmp = `${file}.tmp`;
		const json = JSON.stringify(record);
		writeFileSync(tmp, this.verified(id) ? signRecord(this.keys.records, id, json) : json, { mode: 0o600 });
		renameSync(tmp, file);
	}

	/**
	 * Loads every stored session; unreadable ones are reported, not fatal.
	 * Logs of runs that were in progress are opened and recovered (a torn
	 * tail cut); those of ended sessions are not opened.
	 */
	loadAll(): {
		loaded: LoadedSession[];
		broken: { id: string; reason: string }[];
	} {
		const loaded: LoadedSession[] = [];
		const broken: { id: string; reason: string }[] = [];
		const ids = readdirSync(this.root);
		readAhead(ids.map((id) => join(this.dir(id), "session.json")));
		for (const id of ids) {
			try {
				const opened = openRecord(this.keys.records, id, readFileSync(join(this.dir(id), "session.json"), "utf8"));
				const record = JSON.parse(opened.json) as SessionRecord & { mac?: unknown };
				delete record.mac;
				if (record.session_id !== id) throw new Error("record names another session");
				if (opened.problem) this.unverified.add(id);
				else this.unverified.delete(id);
				loaded.push({ record, ...this.openLog(record), ...(opened.problem ? { problem: opened.problem } : {}) });
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
		const options = this.logOptionsFor(record.session_id);
		if (!isEnded(record)) return EventLog.open(path, options);
		let lastId = record.last_event_id;
		if (lastId === undefined) {
			// Stored by a version before records kept it: found once, from the log's tail, and kept.
			const found = this.lastIdFromTail(path);
			if (found === undefined) {
				// Not frames (the line format before 0.2) or no whole frame: opened, migrated and recovered once.
				const opened = EventLog.open(path, options);
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
			log: EventLog.stored(path, { lastId, atRest: true }, options),
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
