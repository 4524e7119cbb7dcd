import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoggedEvent, StoredEvent } from "../../src/events/catalogue";
import { EventLog } from "../../src/events/log";
import { encodeIndex } from "../../src/events/log-index";
import { eventToFrame } from "../../src/events/record";
import { buildEvent } from "../../src/k8s/event";
import {
	FrameMac,
	frameKey,
	MAC_BYTES,
	openRecord,
	signRecord,
	storedDataKeys,
	verifyFrames,
} from "../../src/security/stored-mac";
import { describeTampering } from "../../src/security/tampering";
import type { SessionRecord } from "../../src/sessions/record";
import { SessionStore } from "../../src/sessions/store";

const T = "2026-01-01T00:00:00.000Z";
const output = (text: string): LoggedEvent => ({
	event: "output",
	data: { type: "stdout", text, source: "assistant", timestamp: T },
});
const complete = (text: string): LoggedEvent => ({
	event: "complete",
	data: { final_message: text, files_modified: [], timestamp: T },
});
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("storedDataKeys", () => {
	it("derives the same keys from the same shared secret, other keys from another, random ones without", () => {
		const a = storedDataKeys("secret-a");
		expect(a.stable).toBe(true);
		expect(storedDataKeys("secret-a")).toEqual(a);
		expect(storedDataKeys("secret-b").records).not.toEqual(a.records);
		expect(a.records).not.toEqual(a.events);
		const random = storedDataKeys(undefined);
		expect(random.stable).toBe(false);
		expect(storedDataKeys(undefined).records).not.toEqual(random.records);
	});
});

describe("signRecord / openRecord", () => {
	const key = storedDataKeys("s").records;
	const json = JSON.stringify({ session_id: "s1", api_endpoint: "https://api.example/v1", status: "completed" });

	it("verifies what it signed, and the JSON comes back unchanged", () => {
		const text = signRecord(key, "s1", json);
		expect(JSON.parse(text).mac).toMatch(/^[A-Za-z0-9_-]{22}$/);
		expect(openRecord(key, "s1", text)).toEqual({ json });
	});

	it("refuses a changed endpoint, a record moved to another session, another key, and no MAC", () => {
		const text = signRecord(key, "s1", json);
		const evil = text.replace("https://api.example/v1", "http://evil.example/v1");
		expect(openRecord(key, "s1", evil).problem).toBe("bad_mac");
		expect(openRecord(key, "s2", text).problem).toBe("bad_mac");
		expect(openRecord(storedDataKeys("other").records, "s1", text).problem).toBe("bad_mac");
		expect(openRecord(key, "s1", json)).toEqual({ json, problem: "no_mac" });
	});

	it("refuses a record rewritten as an object (its MAC no longer last), keeping it parseable", () => {
		const parsed = JSON.parse(signRecord(key, "s1", json)) as Record<string, unknown>;
		parsed.extra = "x";
		const rewritten = JSON.stringify(parsed);
		const opened = openRecord(key, "s1", rewritten);
		expect(opened.problem).toBe("bad_mac");
		expect(JSON.parse(opened.json).session_id).toBe("s1");
		// A MAC field planted with a MAC of the attacker's choosing.
		const planted = `${json.slice(0, -1)},"mac":"AAAAAAAAAAAAAAAAAAAAAA"}`;
		expect(openRecord(key, "s1", planted).problem).toBe("bad_mac");
	});
});

describe("verifyFrames", () => {
	const mac = new FrameMac(frameKey(storedDataKeys("s").events, "s1"));
	const frames = [output("one"), output("two"), complete("the answer")].map((e, i) =>
		Buffer.from(eventToFrame({ ...e, id: i + 1 } as StoredEvent)),
	);
	const macs = Buffer.concat(frames.map((f) => mac.sign(f)));
	const all = Buffer.concat(frames);

	it("passes frames that carry the next id and their MAC", () => {
		expect(verifyFrames(mac, all, 1, macs)).toEqual({ frames: 3, end: all.length });
		const from2 = Buffer.concat(frames.slice(1));
		expect(verifyFrames(mac, from2, 2, macs.subarray(MAC_BYTES))).toEqual({ frames: 2, end: from2.length });
	});

	it("stops at a changed frame, a frame out of place, a missing MAC, or another session's key", () => {
		const forged = Buffer.from(decode(all).replace("the answer", "FORGED-ANSWER"));
		const first2 = (frames[0] as Buffer).length + (frames[1] as Buffer).length;
		expect(verifyFrames(mac, forged, 1, macs)).toEqual({ frames: 2, end: first2, failed: 3 });
		// Genuine frames, but not the ones asked for (a forged index points a replay elsewhere).
		expect(verifyFrames(mac, Buffer.concat(frames.slice(1)), 1, macs).failed).toBe(1);
		expect(verifyFrames(mac, all, 1, macs.subarray(0, 2 * MAC_BYTES)).failed).toBe(3);
		const other = new FrameMac(frameKey(storedDataKeys("s").events, "s2"));
		expect(verifyFrames(other, all, 1, macs).failed).toBe(1);
	});
});

describe("EventLog with MACs", () => {
	let dir: string;
	const mac = () => new FrameMac(frameKey(storedDataKeys("s").events, "s1"));
	beforeEach(() => {
		dir = mkdtempSync(join(tmpdir(), "stored-mac-"));
	});
	afterEach(() => rmSync(dir, { recursive: true, force: true }));

	const write = (events: LoggedEvent[]) => {
		const path = join(dir, "events.log");
		const { log } = EventLog.open(path, { mac: mac() });
		for (const e of events) log.append(e);
		log.seal();
		return path;
	};

	it("replays its own frames; a forged one is not sent and named", async () => {
		const path = write([output("one"), output("two"), complete("the answer")]);
		const stored = () => EventLog.stored(path, { lastId: 3, atRest: true }, { mac: mac() });
		const clean = await stored().readFrames(0);
		expect(clean.unverified).toBeUndefined();
		expect(clean.lastId).toBe(3);
		// Same length, so the index still fits: only the MAC can tell.
		writeFileSync(path, readFileSync(path, "utf8").replace("the answer", "FORGED-ANS"));
		const read = await stored().readFrames(0);
		expect({ lastId: read.lastId, unverified: read.unverified }).toEqual({ lastId: 2, unverified: 3 });
		expect(decode(read.bytes)).not.toContain("FORGED");
		expect(decode(read.bytes)).toContain('"two"');
		// Longer, with the index left stale: the read from the forged event on refuses too.
		writeFileSync(path, readFileSync(path, "utf8").replace("FORGED-ANS", "FORGED-ANSWER-1, longer"));
		const longer = await stored().readFrames(2);
		expect({ lastId: longer.lastId, unverified: longer.unverified }).toEqual({ lastId: 2, unverified: 3 });
		// Read unchecked when told so (a log no key here can verify, flagged by its caller).
		const unchecked = await EventLog.stored(
			path,
			{ lastId: 3, atRest: true },
			{ mac: mac(), checkMacs: false },
		).readFrames(0);
		expect(decode(unchecked.bytes)).toContain("FORGED-ANSWER-1");
	});

	it("a forged index makes a replay refuse, never send a frame out of place", async () => {
		const path = write(Array.from({ length: 70 }, (_, i) => output(`e${i + 1}`)));
		const frames = readFileSync(path, "utf8");
		// Index entry 1 (event 65) pointed at event 66's frame, relabelled 65 by the agent.
		const at66 = frames.indexOf("event: output\nid: 66\n");
		writeFileSync(path, `${frames.slice(0, at66)}${frames.slice(at66).replace("id: 66\n", "id: 65\n")}`);
		writeFileSync(`${path}.idx`, encodeIndex({ events: 70, size: frames.length, offsets: [0, at66] }));
		const read = await EventLog.stored(path, { lastId: 70, atRest: true }, { mac: mac() }).readFrames(64);
		expect(read.lastId).toBe(64);
		expect(read.unverified).toBe(65);
	});

	it("a log written before MACs (no .mac file) verifies nothing", async () => {
		const path = join(dir, "events.log");
		writeFileSync(path, [output("old")].map((e, i) => eventToFrame({ ...e, id: i + 1 } as StoredEvent)).join(""));
		const read = await EventLog.stored(path, { lastId: 1, atRest: true }, { mac: mac() }).readFrames(0);
		expect(read).toMatchObject({ lastId: 0, unverified: 1 });
	});
});

describe("SessionStore", () => {
	let dir: string;
	const keys = storedDataKeys("s");
	beforeEach(() => {
		dir = mkdtempSync(join(tmpdir(), "stored-mac-store-"));
	});
	afterEach(() => rmSync(dir, { recursive: true, force: true }));
	const record = (id: string): SessionRecord => ({
		session_id: id,
		engine_session_id: null,
		status: "completed",
		provider: "openai-compatible",
		model: "m",
		enabled_tools: [],
		api_endpoint: "https://api.example/v1",
		created_at: T,
		started_at: T,
		updated_at: T,
		ended_at: T,
		cancelled_at: null,
		files_modified: [],
		last_event_id: 0,
	});

	it("loads its own records verified, and a rewritten one unverified, which a later save does not sign", () => {
		const store = new SessionStore(dir, { keys });
		store.create(record("a")).close();
		store.create(record("b")).close();
		const file = join(dir, "sessions", "b", "session.json");
		writeFileSync(file, readFileSync(file, "utf8").replace("https://api.example/v1", "http://evil.example/v1"));

		const again = new SessionStore(dir, { keys });
		const { loaded } = again.loadAll();
		const byId = new Map(loaded.map((l) => [l.record.session_id, l]));
		expect(byId.get("a")?.problem).toBeUndefined();
		expect(byId.get("b")?.problem).toBe("bad_mac");
		expect(again.verified("a")).toBe(true);
		expect(again.verified("b")).toBe(false);
		// The sidecar saves the record (its status changed): it stays unverified on the next start.
		again.save({ ...(byId.get("b")?.record as SessionRecord), status: "failed" });
		const third = new SessionStore(dir, { keys });
		expect(third.loadAll().loaded.find((l) => l.record.session_id === "b")?.problem).toBe("no_mac");
		expect(third.verified("b")).toBe(false);
	});

	it("without the shared secret, records of an earlier process are unverified", () => {
		new SessionStore(dir).create(record("a")).close();
		const later = new SessionStore(dir);
		expect(later.loadAll().loaded[0]?.problem).toBe("bad_mac");
	});
});

describe("reporting", () => {
	it("says what failed, and the Kubernetes Event is a Warning StoredDataUnverified", () => {
		const record = { what: "record", session_id: "s1", problem: "bad_mac", checkable: true } as const;
		expect(describeTampering(record)).toContain("failed verification");
		expect(describeTampering({ ...record, checkable: false })).toContain("without OPENCODE_SHARED_SECRET");
		expect(describeTampering({ what: "log", session_id: "s1", event_id: 7 })).toContain("event 7");
		const event = buildEvent(
			{ session_id: "s1", status: "unverified", code: "record", message: describeTampering(record) },
			{ name: "pod", namespace: "ns" },
			Date.parse(T),
			0,
		);
		expect(event).toMatchObject({ reason: "StoredDataUnverified", type: "Warning" });
		expect(event?.message).toContain("failed verification");
	});
});
