/**
 * Reads a byte stream whole unless it exceeds `limit`: chunks are counted as
 * they arrive, and at the first byte past the limit the stream is cancelled
 * and undefined returned, so no more than `limit` bytes (plus the one chunk
 * in hand) are ever held. No library does this for a web ReadableStream:
 * `Response.text()` and friends read everything first.
 */
export async function readAtMost(
	stream: ReadableStream<Uint8Array> | null,
	limit: number,
): Promise<Uint8Array | undefined> {
	if (!stream) return new Uint8Array(0);
	const reader = stream.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			size += value.byteLength;
			if (size > limit) {
				chunks.length = 0;
				await reader.cancel().catch(() => undefined);
				return undefined;
			}
			chunks.push(value);
		}
	} finally {
		reader.releaseLock();
	}
	return Buffer.concat(chunks, size);
}

/** The declared Content-Length, or undefined when absent or not a number. */
export function declaredLength(headers: Headers): number | undefined {
	const text = headers.get("content-length");
	if (text === null || !/^\d+$/.test(text.trim())) return undefined;
	return Number(text);
}
