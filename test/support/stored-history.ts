import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LoggedEvent, StoredEvent } from "../../src/events/catalogue";
import { EventLog } from "../../src/events/log";
import { eventToFrame } from "../../src/events/record";
import { terminalEvents } from "../../src/sessions/lifecycle";
import type { SessionRecord } from "../../src/sessions/record";

/**
 * Stored sessions in the sidecar's own on-disk format (record, frame log and
 * its index, as `Session.end` leaves them), written in bulk so that hundreds
 * of sessions of thousands of events each take seconds: for the history tests
 * and the bench.
 */

const BASE_MS = Date.parse("2026-01-01T00:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();
const USAGE = {
	input_tokens: 10,
	output_tokens: 20,
	reasoning_tokens: 0,
	cache_read_tokens: 0,
	cache_write_tokens: 0,
	cost: 0,
};

/** The events of stored session number `n`: a run of `count` events (at least 3) ending `completed`. */
export function storedEvents(n: number, count: number): StoredEvent[] {
	const at = iso(BASE_MS + n * 60_000);
	const out: LoggedEvent[] = [{ event: "status", data: { status: "running", timestamp: at } }];
	for (let i = 1; out.length < count - 2; i++) {
		if (i % 10 === 0)
			out.push({
				event: "tool_call",
				data: { tool: "bash", args: { command: `echo ${n}-${i}` }, call_id: `call_${i}`, timestamp: at },
			});
		else
			out.push({
				event: "output",
				data: {
					type: "stdout",
					text: `session ${n} line ${i}: ${"lorem ipsum ✓ ".repeat(3)}\n`,
					source: "assistant",
					timestamp: at,
				},
			});
	}
	out.push(...terminalEvents({ status: "completed", finalMessage: `done ${n}`, filesModified: [], usage: USAGE }, at));
	return out.map((e, i) => ({ ...e, id: i + 1 }) as StoredEvent);
}

/** The record of stored session number `n`, ended `completed` (ended_at orders them: n = 0 is the oldest). */
export function storedRecord(id: string, n: number, lastEventId: number | undefined): SessionRecord {
	const at = iso(BASE_MS + n * 60_000);
	return {
		session_id: id,
		engine_session_id: null,
		status: "completed",
		provider: "openai",
		model: "gpt-4o",
		enabled_tools: ["bash"],
		temperature: 1,
		max_tokens: 4096,
		created_at: at,
		started_at: at,
		updated_at: at,
		ended_at: at,
		cancelled_at: null,
		files_modified: [],
		usage: USAGE,
		...(lastEventId === undefined ? {} : { last_event_id: lastEventId }),
	};
}

/** A UUID, as session ids are, that sorts by `n`. */
export const storedId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

export interface StoreOptions {
	/** As a version before index files and `last_event_id` left it (default false). */
	readonly legacy?: boolean;
}

/** Writes stored session number `n` with `count` events into `stateDir`; returns its id and events. */
export async function writeStoredSession(
	stateDir: string,
	n: number,
	count: number,
	options: StoreOptions = {},
): Promise<{ id: string; events: StoredEvent[] }> {
	const id = storedId(n);
	const dir = join(stateDir, "sessions", id);
	mkdirSync(dir, { recursive: true, mode: 0o700 });
	const events = storedEvents(n, count);
	const path = join(dir, "events.log");
	writeFileSync(path, events.map(eventToFrame).join(""), { mode: 0o600 });
	writeFileSync(join(dir, "session.json"), JSON.stringify(storedRecord(id, n, options.legacy ? undefined : count)));
	// The index as the sidecar writes it: its own code reads the log once and stores it.
	if (!options.legacy) await EventLog.stored(path, { lastId: count, atRest: true }).readFrames(count - 1, 1);
	return { id, events };
}

/** The expected replay after `afterId`: the frames, as the log holds and the stream sends them. */
export const framesAfter = (events: StoredEvent[], afterId: number) => events.slice(afterId).map(eventToFrame).join("");
