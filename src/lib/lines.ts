/**
 * Calls `onLine` with each line of a process's output as it arrives (without
 * its newline; a last line without one too), until the stream ends or fails
 * (the process went away). Not node:readline: it wants a Node stream, and this
 * is Bun's web stream, read as it is.
 */
export async function eachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
	const decoder = new TextDecoder();
	let buffer = "";
	try {
		for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
			buffer += decoder.decode(chunk, { stream: true });
			let nl = buffer.indexOf("\n");
			while (nl !== -1) {
				onLine(buffer.slice(0, nl));
				buffer = buffer.slice(nl + 1);
				nl = buffer.indexOf("\n");
			}
		}
	} catch {
		// The process went away.
	}
	if (buffer) onLine(buffer);
}
