import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventLog, type Recovery } from "../events/log";
import type { SessionRecord } from "./record";

/**
 * Where sessions live on disk: `<stateDir>/sessions/<session_id>/` holding
 * `session.json` (the record) and `events.log` (the numbered event log).
 */
export class SessionStore {
	readonly root: string;

	constructor(stateDir: string) {
		this.root = join(stateDir, "sessions");
		mkdirSync(this.root, { recursive: true, mode: 0o700 });
	}

	private dir(id: string): string {
		return join(this.root, id);
	}

	/** Creates a new session's directory and empty log. */
	create(record: SessionRecord): EventLog {
		mkdirSync(this.dir(record.session_id), { recursive: true, mode: 0o700 });
		this.save(record);
		return EventLog.open(join(this.dir(record.session_id), "events.log")).log;
	}

	/** Writes the record atomically (a crash leaves the old or the new one, never half). */
	save(record: SessionRecord): void {
		const file = join(this.dir(record.session_id), "session.json");
		const tmp = `${file}.tmp`;
		writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
		renameSync(tmp, file);
	}

	/** Loads every stored session with its recovered log; unreadable ones are reported, not fatal. */
	loadAll(): {
		loaded: { record: SessionRecord; log: EventLog; recovery: Recovery }[];
		broken: { id: string; reason: string }[];
	} {
		const loaded: {
			record: SessionRecord;
			log: EventLog;
			recovery: Recovery;
		}[] = [];
		const broken: { id: string; reason: string }[] = [];
		for (const id of readdirSync(this.root)) {
			try {
				const record = JSON.parse(readFileSync(join(this.dir(id), "session.json"), "utf8")) as SessionRecord;
				if (record.session_id !== id) throw new Error("record names another session");
				const { log, recovery } = EventLog.open(join(this.dir(id), "events.log"));
				loaded.push({ record, log, recovery });
			} catch (error) {
				broken.push({
					id,
					reason: error instanceof Error ? error.message : String(error),
				});
			}
		}
		return { loaded, broken };
	}
}
