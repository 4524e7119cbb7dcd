import { describe, expect, test } from "bun:test";
import { declaredLength, readAtMost } from "../../src/lib/bounded-read";

/**
 * A stream that makes `chunk`-byte chunks on demand, up to `total`, and
 * records how many it made and whether it was cancelled: nothing is produced
 * before the reader asks for it.
 */
function generated(total: number, chunk: number) {
	const seen = { produced: 0, cancelled: false };
	const stream = new ReadableStream<Uint8Array>(
		{
			pull(c) {
				if (seen.produced >= total) return c.close();
				const n = Math.min(chunk, total - seen.produced);
				seen.produced += n;
				c.enqueue(new Uint8Array(n).fill(120));
			},
			cancel() {
				seen.cancelled = true;
			},
		},
		{ highWaterMark: 0 },
	);
	return { stream, seen };
}

describe("readAtMost", () => {
	test("returns every byte of a stream up to the limit, the limit included", async () => {
		const { stream } = generated(64 * 1024, 1000);
		const bytes = await readAtMost(stream, 64 * 1024);
		expect(bytes?.byteLength).toBe(64 * 1024);
		expect(bytes?.every((b) => b === 120)).toBe(true);
	});

	test("stops at the first chunk past the limit and cancels the stream: a 400 MiB stream is not read", async () => {
		const { stream, seen } = generated(400 * 1024 * 1024, 16 * 1024);
		expect(await readAtMost(stream, 64 * 1024)).toBeUndefined();
		expect(seen.cancelled).toBe(true);
		// Five 16 KiB chunks: the four that fit and the one that crossed the limit.
		expect(seen.produced).toBe(5 * 16 * 1024);
	});

	test("no stream is an empty body", async () => {
		expect(await readAtMost(null, 10)).toEqual(new Uint8Array(0));
	});
});

describe("declaredLength", () => {
	test("reads a Content-Length and ignores what is not one", () => {
		expect(declaredLength(new Headers({ "content-length": "419430400" }))).toBe(419_430_400);
		expect(declaredLength(new Headers())).toBeUndefined();
		expect(declaredLength(new Headers({ "content-length": "12abc" }))).toBeUndefined();
	});
});
