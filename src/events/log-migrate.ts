import { closeSync, fdatasyncSync, openSync, renameSync, writeSync } from "node:fs";
import type { StoredEvent } from "./catalogue";
import { decodeLegacyRecord, eventToFrame } from "./record";

const ENCODER = new TextEncoder();

/** The log of versions before 0.2 was lines starting with the id; a frame starts with "event: ". */
export function isLegacy(bytes: Buffer): boolean {
	const first = bytes[0];
	return first !== undefined && first >= 0x30 && first <= 0x39;
}

/** Rewrites a log of the old line format (`id<TAB>event<TAB>json`) as frames, atomically. */
export function migrate(path: string, bytes: Buffer): { events: number; discardedBytes: number } {
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
	const fd = openSync(tmp, "w", 0o600);
	writeAll(fd, ENCODER.encode(events.map(eventToFrame).join("")));
	fdatasyncSync(fd);
	closeSync(fd);
	renameSync(tmp, path);
	return { events: events.length, discardedBytes: bytes.length - start };
}

function writeAll(fd: number, bytes: Uint8Array): void {
	let written = 0;
	while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
}
