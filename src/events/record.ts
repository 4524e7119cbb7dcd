import type { StoredEvent } from "./catalogue";

/**
 * The on-disk record of one event: `id<TAB>event<TAB>json`. JSON.stringify
 * escapes every control character, so a record never contains a raw tab after
 * the second field nor any newline; the SSE frame is built from the record by
 * concatenation, without parsing the payload again.
 */
export function encodeRecord(e: StoredEvent): string {
	return `${e.id}\t${e.event}\t${JSON.stringify(e.data)}`;
}

/** Parses one record; undefined for anything torn or malformed. */
export function decodeRecord(line: string): StoredEvent | undefined {
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

/** The SSE frame of a record (same bytes as `encodeFrame({event, id, data})`). */
export function recordToFrame(line: string): string {
	const a = line.indexOf("\t");
	const b = line.indexOf("\t", a + 1);
	return `event: ${line.slice(a + 1, b)}\nid: ${line.slice(0, a)}\ndata: ${line.slice(b + 1)}\n\n`;
}

/** The SSE frame of an event. */
export function eventToFrame(e: StoredEvent): string {
	return `event: ${e.event}\nid: ${e.id}\ndata: ${JSON.stringify(e.data)}\n\n`;
}
