import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/**
 * Every way an event log (or its index) is opened or read goes through these
 * two functions, so a test can see which stored logs a process touches.
 */
export interface LogFiles {
	openSync(path: string, flags: "r" | "a+"): number;
	/** Reads `[start, end)` of a file by its path, off the event loop. */
	read(path: string, start: number, end: number): Promise<Uint8Array>;
}

export const NODE_FILES: LogFiles = {
	openSync: (path, flags) => openSync(path, flags),
	// Bun's own file reads: a few times faster than fs.read's thread-pool round trip for replay-sized reads.
	read: (path, start, end) => Bun.file(path).slice(start, end).bytes(),
};

/** Reads an open file from `start` to its end, on the event loop (small files, or at start). */
export function readTailSync(fd: number, start = 0): Buffer {
	const length = Math.max(0, fstatSync(fd).size - start);
	const bytes = Buffer.allocUnsafe(length);
	let done = 0;
	while (done < length) {
		const n = readSync(fd, bytes, done, length - done, start + done);
		if (n === 0) return bytes.subarray(0, done);
		done += n;
	}
	return bytes;
}

/** Opens, reads from `start` to the end, closes; undefined when the file does not exist. */
export function readFileFrom(files: LogFiles, path: string, start = 0): Buffer | undefined {
	let fd: number;
	try {
		fd = files.openSync(path, "r");
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
		throw error;
	}
	try {
		return readTailSync(fd, start);
	} finally {
		closeSync(fd);
	}
}

/** Reads `[start, end)` of an open file, on the event loop. */
export function readRangeSync(fd: number, start: number, end: number): Buffer {
	const bytes = Buffer.allocUnsafe(Math.max(0, end - start));
	let done = 0;
	while (done < bytes.length) {
		const n = readSync(fd, bytes, done, bytes.length - done, start + done);
		if (n === 0) return bytes.subarray(0, done);
		done += n;
	}
	return bytes;
}
