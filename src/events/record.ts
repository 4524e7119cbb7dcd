import type { StoredEvent } from "./catalogue";

/**
 * An event as stored on disk and sent to subscribers: its SSE frame,
 * `event: E\nid: N\ndata: JSON\n\n` (the same bytes as
 * `encodeFrame({event, id, data})`). JSON.stringify escapes every control
 * character, so the payload is one line and a blank line only ever ends a
 * frame: the log is a sequence of frames that replay sends as it reads them.
 */
export function eventToFrame(e: StoredEvent): string {
	return `event: ${e.event}\nid: ${e.id}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

const EVENT = "event: ";
const ID = "\nid: ";
const DATA = "\ndata: ";

/** The id of a stored frame (its text without the closing blank line); undefined if it is not one. */
export function frameId(frame: string): number | undefined {
	if (!frame.startsWith(EVENT)) return undefined;
	const a = frame.indexOf(ID);
	if (a === -1 || frame.indexOf("\n") !== a) return undefined;
	const b = frame.indexOf(DATA, a + ID.length);
	if (b === -1 || frame.indexOf("\n", a + 1) !== b || frame.indexOf("\n", b + 1) !== -1) return undefined;
	const id = Number(frame.slice(a + ID.length, b));
	return Number.isSafeInteger(id) && id >= 1 ? id : undefined;
}

/** Parses a stored frame (its text without the closing blank line); undefined for anything torn or malformed. */
export function decodeFrame(frame: string): StoredEvent | undefined {
	const id = frameId(frame);
	if (id === undefined) return undefined;
	const a = frame.indexOf(ID);
	const b = frame.indexOf(DATA, a + ID.length);
	try {
		const data = JSON.parse(frame.slice(b + DATA.length));
		if (data === null || typeof data !== "object") return undefined;
		return { id, event: frame.slice(EVENT.length, a), data } as StoredEvent;
	} catch {
		return undefined;
	}
}

/**
 * Parses one line of the log format before 0.2 (`id<TAB>event<TAB>json`, one
 * record per line); used only to migrate such a log when it is opened.
 */
export function decodeLegacyRecord(line: string): StoredEvent | undefined {
	const a = line.indexOf("\t");
	const b = a === -1 ? -1 : line.indexOf("\t", a + 1);
	if (b === -1) return undefined;
	const id = Number(line.slice(0, a));
	if (!Number.isSafeInteger(id) || id < 1) return undefined;
	try {
		const data = JSON.parse(line.slice(b + 1));
		if (data === null || typeof data !== "object") return undefined;
		return { id, event: line.slice(a + 1, b), data } as StoredEvent;
	} catch {
		return undefined;
	}
}
