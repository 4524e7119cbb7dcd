import { describe, expect, it } from "bun:test";
import { eachLine } from "../../src/lib/lines";

/** The chunks one read at a time, then the end (or a failure, as when the process is killed). */
const stream = (chunks: string[], fail = false) => {
	const left = [...chunks];
	return new ReadableStream<Uint8Array>({
		pull(controller) {
			const next = left.shift();
			if (next !== undefined) controller.enqueue(new TextEncoder().encode(next));
			else if (fail) controller.error(new Error("gone"));
			else controller.close();
		},
	});
};

describe("eachLine", () => {
	it("gives whole lines whatever the chunks, and a last line without a newline", async () => {
		const lines: string[] = [];
		await eachLine(stream(["one\ntw", "o\n\nthr", "ee"]), (l) => lines.push(l));
		expect(lines).toEqual(["one", "two", "", "three"]);
	});

	it("ends quietly, with what it had, when the stream fails", async () => {
		const lines: string[] = [];
		await eachLine(stream(["a\nb"], true), (l) => lines.push(l));
		expect(lines).toEqual(["a", "b"]);
	});

	it("does not split a character cut between chunks", async () => {
		const bytes = new TextEncoder().encode("é\n");
		const split = new ReadableStream<Uint8Array>({
			start(c) {
				c.enqueue(bytes.slice(0, 1));
				c.enqueue(bytes.slice(1));
				c.close();
			},
		});
		const lines: string[] = [];
		await eachLine(split, (l) => lines.push(l));
		expect(lines).toEqual(["é"]);
	});
});
