import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
	appendFileSync,
	existsSync,
	openSync,
	readdirSync,
	readFileSync,
	readlinkSync,
	statSync,
	writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { StoredEvent } from "../../src/events/catalogue";
import { type LogFiles, NODE_FILES } from "../../src/events/log-files";
import type { SessionRecord } from "../../src/sessions/record";
import { type InProcess, startInProcess } from "../support/in-process";
import { framesAfter, storedEvents, storedId, storedRecord, writeStoredSession } from "../support/stored-history";
import { makeTempDirs, type TempDirs } from "../support/workspace";

// A pod with a long history: a few hundred ended sessions in STATE_DIR. Start
// must not read them (it costs O(running sessions)), yet every one of them
// replays exactly, and a run cut short by the restart still has its torn tail cut.

const STORED = 290;
const LEGACY = [10, 11, 12, 13, 14]; // as a version before index files and last_event_id left them
const LINE_FORMAT = 15; // the line format of the first version, ended
const ENDED_TORN = 16; // ended, with bytes after its last frame (a machine crash mid-write)
const RUNNING = STORED; // running when the process stopped, its last frame torn
const PRUNED = [0, 1, 2]; // the oldest: MAX_STORED_SESSIONS keeps all but these
const RECENT = 4;
const TORN = 'event: output\nid: 999\ndata: {"type":"stdout","te';

let dirs: TempDirs;
const expected = new Map<string, StoredEvent[]>();
const opened: string[] = [];
const files: LogFiles = {
	openSync: (path, flags) => {
		opened.push(path);
		return openSync(path, flags);
	},
	read: (path, start, end) => {
		opened.push(path);
		return NODE_FILES.read(path, start, end);
	},
};
const sessionsDir = () => join(dirs.state, "sessions");
/** Session ids whose files this process opened through the store since the mark. */
const openedSessions = (from = 0) =>
	[...new Set(opened.slice(from).map((p) => p.slice(sessionsDir().length + 1).split("/")[0] as string))].sort();
/** Session ids of which this process holds a descriptor now. */
function heldDescriptors(): string[] {
	const out: string[] = [];
	for (const fd of readdirSync("/proc/self/fd")) {
		let target: string;
		try {
			target = readlinkSync(`/proc/self/fd/${fd}`);
		} catch {
			continue;
		}
		if (target.startsWith(`${sessionsDir()}/`))
			out.push(target.slice(sessionsDir().length + 1).split("/")[0] as string);
	}
	return out.sort();
}

const start = () =>
	startInProcess(
		{ WORKSPACE_DIR: dirs.workspace, STATE_DIR: dirs.state, MAX_STORED_SESSIONS: String(STORED + 1 - PRUNED.length) },
		{ store: { files, recentLogs: RECENT } },
	);

async function replay(it: InProcess, id: string, afterId: number): Promise<string> {
	const res = await it.handle(`/sessions/${id}/stream`, { headers: { "last-event-id": String(afterId) } });
	expect(res.status).toBe(200);
	const body = await res.text();
	// The preamble (a comment and the retry hint) comes first, then the stored frames as they are.
	return body.slice(body.indexOf("\n\n") + 2);
}

beforeAll(async () => {
	dirs = makeTempDirs();
	for (let n = 0; n < STORED; n++) {
		const count = 3 + ((n * 37) % 200); // from 3 to 202 events: across many index boundaries
		const { id, events } = await writeStoredSession(dirs.state, n, count, { legacy: LEGACY.includes(n) });
		expected.set(id, events);
	}
	// The first version's line format (`id<TAB>event<TAB>json`), ended: migrated when first needed.
	const lineEvents = expected.get(storedId(LINE_FORMAT)) as StoredEvent[];
	const lineDir = join(sessionsDir(), storedId(LINE_FORMAT));
	writeFileSync(
		join(lineDir, "events.log"),
		lineEvents.map((e) => `${e.id}\t${e.event}\t${JSON.stringify(e.data)}\n`).join(""),
	);
	writeFileSync(
		join(lineDir, "session.json"),
		JSON.stringify(storedRecord(storedId(LINE_FORMAT), LINE_FORMAT, undefined)),
	);
	appendFileSync(join(sessionsDir(), storedId(ENDED_TORN), "events.log"), TORN);
	// Running when the process stopped: no terminal events yet, and a frame torn mid-write.
	const { id } = await writeStoredSession(dirs.state, RUNNING, 40);
	const running = (expected.get(id) ?? storedEvents(RUNNING, 40)).slice(0, -2);
	writeFileSync(join(sessionsDir(), id, "events.log"), `${running.map((e) => framesAfter([e], 0)).join("")}${TORN}`);
	const record: SessionRecord = { ...storedRecord(id, RUNNING, undefined), status: "running", ended_at: null };
	writeFileSync(join(sessionsDir(), id, "session.json"), JSON.stringify(record));
	expected.set(id, running);
});

afterAll(() => dirs?.cleanup());

describe("a state directory of a few hundred stored sessions", () => {
	let it: InProcess;
	let openedAtStart: string[];
	let heldAtStart: string[];
	const endedTornSize = () => statSync(join(sessionsDir(), storedId(ENDED_TORN), "events.log")).size;
	let endedTornSizeBefore: number;

	beforeAll(async () => {
		endedTornSizeBefore = endedTornSize();
		it = await start();
		openedAtStart = openedSessions();
		heldAtStart = heldDescriptors();
	});
	afterAll(async () => {
		await it?.sidecar.stop();
	});

	test("start opens only the log of the run that was in progress and those of sessions stored before records kept their last id", () => {
		// The running log is recovered; a record without last_event_id has it read from its log's tail, once.
		const expectedOpens = [RUNNING, ...LEGACY, LINE_FORMAT].map(storedId).sort();
		expect(openedAtStart).toEqual(expectedOpens);
	});

	test("start holds no descriptor of an ended session's log", () => {
		const running = storedId(RUNNING);
		// The interrupted run's log is flushed and let go in the background.
		expect(heldAtStart.filter((id) => id !== running)).toEqual([]);
	});

	test("MAX_STORED_SESSIONS prunes the oldest at start without reading their logs", () => {
		for (const n of PRUNED) expect(existsSync(join(sessionsDir(), storedId(n)))).toBe(false);
		for (const n of PRUNED) expect(openedAtStart).not.toContain(storedId(n));
	});

	test("a torn tail is cut from the log of the run that was in progress, and the run ends interrupted after it", async () => {
		const id = storedId(RUNNING);
		const intact = expected.get(id) as StoredEvent[];
		const text = await replay(it, id, 0);
		expect(text.startsWith(framesAfter(intact, 0))).toBe(true);
		const rest = text.slice(framesAfter(intact, 0).length);
		expect(rest).not.toContain("id: 999");
		expect(rest).toContain(`event: status\nid: ${intact.length + 1}\ndata: {"status":"failed"`);
		expect(rest).toContain(`event: error\nid: ${intact.length + 2}\n`);
		expect(rest.endsWith("\n\n")).toBe(true);
		expect(it.logLines.some((l) => l.includes("torn event record discarded") && l.includes(id))).toBe(true);
	});

	test("a torn tail of a session that had ended is left as it is at start", () => {
		expect(endedTornSize()).toBe(endedTornSizeBefore);
	});

	test("GET /sessions lists every stored session with its last event id", async () => {
		const res = await it.handle("/sessions");
		const { sessions } = (await res.json()) as { sessions: { session_id: string; last_event_id: number }[] };
		const byId = new Map(sessions.map((s) => [s.session_id, s.last_event_id]));
		expect(sessions).toHaveLength(STORED + 1 - PRUNED.length);
		for (const [id, events] of expected) {
			if (id === storedId(RUNNING)) expect(byId.get(id)).toBe(events.length + 2);
			else if (PRUNED.some((n) => storedId(n) === id)) expect(byId.has(id)).toBe(false);
			else expect({ id, last: byId.get(id) }).toEqual({ id, last: events.length });
		}
	});

	test("a replay of any stored session from the middle is exact, and only a bounded set of logs stays indexed", async () => {
		const mark = opened.length;
		for (const [id, events] of expected) {
			if (id === storedId(RUNNING) || PRUNED.some((n) => storedId(n) === id)) continue;
			const afterId = Math.floor(events.length / 2);
			expect({ id, text: await replay(it, id, afterId) }).toEqual({ id, text: framesAfter(events, afterId) });
		}
		// Read again after their indexes were let go: loaded from the index files, still exact.
		for (const n of [3, 100, LEGACY[0] as number, LINE_FORMAT, ENDED_TORN]) {
			const events = expected.get(storedId(n)) as StoredEvent[];
			expect(await replay(it, storedId(n), 1)).toBe(framesAfter(events, 1));
		}
		expect(openedSessions(mark).length).toBe(expected.size - 1 - PRUNED.length);
		const indexed = it.sidecar.sessions.list().filter((s) => s.channel.log.held.index);
		expect(indexed.length).toBeLessThanOrEqual(RECENT);
		for (const s of it.sidecar.sessions.list()) await s.channel.log.settled();
		expect(heldDescriptors()).toEqual([]);
	});

	test("the line-format log was migrated to frames when first read", () => {
		const text = readFileSync(join(sessionsDir(), storedId(LINE_FORMAT), "events.log"), "utf8");
		expect(text).toBe(framesAfter(expected.get(storedId(LINE_FORMAT)) as StoredEvent[], 0));
	});
});

describe("the next start on the same state directory", () => {
	test("opens no stored log and holds no descriptor of one", async () => {
		const mark = opened.length;
		const it = await start();
		try {
			expect(openedSessions(mark)).toEqual([]);
			expect(heldDescriptors()).toEqual([]);
			const res = await it.handle("/sessions");
			const { sessions } = (await res.json()) as { sessions: unknown[] };
			expect(sessions).toHaveLength(STORED + 1 - PRUNED.length);
			expect(openedSessions(mark)).toEqual([]);
		} finally {
			await it.sidecar.stop();
		}
	});
});
