import { describe, expect, it } from "bun:test";
import { encodeFrame } from "../../src/sse/encode";
import { type ParsedEvent, SseParser } from "../../src/sse/parse";

const parseAll = (text: string): ParsedEvent[] => new SseParser().push(text);

/** Feeds `text` in the given pieces and collects every event. */
function parseInPieces(pieces: readonly string[]): ParsedEvent[] {
	const parser = new SseParser();
	return pieces.flatMap((p) => parser.push(p));
}

/** Deterministic PRNG (mulberry32) so a failing split can be reproduced from its seed. */
function random(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

function randomSplit(text: string, seed: number): string[] {
	const next = random(seed);
	const pieces: string[] = [];
	let at = 0;
	while (at < text.length) {
		const size = 1 + Math.floor(next() * 7);
		pieces.push(text.slice(at, at + size));
		at += size;
	}
	return pieces;
}

describe("encodeFrame", () => {
	it("writes event, id and data fields in order and ends with a blank line", () => {
		expect(encodeFrame({ event: "output", id: 7, data: { a: 1 } })).toBe('event: output\nid: 7\ndata: {"a":1}\n\n');
	});

	it("sends a string payload as is and anything else as JSON", () => {
		expect(encodeFrame({ data: "plain" })).toBe("data: plain\n\n");
		expect(encodeFrame({ data: [1, "two"] })).toBe('data: [1,"two"]\n\n');
		expect(encodeFrame({ data: 42 })).toBe("data: 42\n\n");
	});

	it("splits multi-line data on LF, CRLF and lone CR into one data line each", () => {
		expect(encodeFrame({ data: "a\nb\r\nc\rd" })).toBe("data: a\ndata: b\ndata: c\ndata: d\n\n");
	});

	it("keeps leading, trailing and consecutive line breaks as empty data lines", () => {
		expect(encodeFrame({ data: "\nx\n\n" })).toBe("data: \ndata: x\ndata: \ndata: \n\n");
	});

	it("encodes an empty string payload as one empty data line", () => {
		expect(encodeFrame({ data: "" })).toBe("data: \n\n");
	});

	it("does not treat U+2028 or U+2029 as line breaks", () => {
		expect(encodeFrame({ data: "a\u2028b\u2029c" })).toBe("data: a\u2028b\u2029c\n\n");
	});

	it("writes comment lines (one per line of the comment) and a retry hint", () => {
		expect(encodeFrame({ comment: "stream open", retry: 3000 })).toBe(": stream open\nretry: 3000\n\n");
		expect(encodeFrame({ comment: "one\ntwo" })).toBe(": one\n: two\n\n");
	});

	it("rejects a retry that is not a non-negative integer", () => {
		expect(() => encodeFrame({ retry: -1 })).toThrow(TypeError);
		expect(() => encodeFrame({ retry: 1.5 })).toThrow(TypeError);
		expect(encodeFrame({ retry: 0 })).toBe("retry: 0\n\n");
	});

	it.each([
		["LF", "a\nb"],
		["CR", "a\rb"],
		["CRLF", "a\r\nb"],
	])("rejects an event name containing %s", (_name, event) => {
		expect(() => encodeFrame({ event, data: "x" })).toThrow(TypeError);
	});

	it.each([
		["LF", "1\n2"],
		["CR", "1\r2"],
		["CRLF", "1\r\n2"],
		["NUL", "1\u00002"],
	])("rejects an id containing %s", (_name, id) => {
		expect(() => encodeFrame({ id, data: "x" })).toThrow(TypeError);
	});

	it("accepts NUL in an event name (only ids forbid it)", () => {
		expect(encodeFrame({ event: "a\u0000b", data: "x" })).toBe("event: a\u0000b\ndata: x\n\n");
	});
});

describe("SseParser", () => {
	it("joins data lines with LF and dispatches on the blank line", () => {
		expect(parseAll("event: e\nid: 3\ndata: one\ndata: two\n\n")).toEqual([{ event: "e", data: "one\ntwo", id: "3" }]);
	});

	it("defaults the event name to message", () => {
		expect(parseAll("data: x\n\n")).toEqual([{ event: "message", data: "x", id: undefined }]);
	});

	it("accepts CRLF and lone CR line endings", () => {
		expect(parseAll("data: a\r\ndata: b\r\n\r\ndata: c\rdata: d\r\r: next\n")).toEqual([
			{ event: "message", data: "a\nb", id: undefined },
			{ event: "message", data: "c\nd", id: undefined },
		]);
	});

	it("waits for the next character before acting on a CR at the end of a chunk", () => {
		const parser = new SseParser();
		// The CR may be the first half of a CRLF, so the blank line is not known yet.
		expect(parser.push("data: x\r\r")).toEqual([]);
		expect(parser.push("data: y\r\r")).toEqual([{ event: "message", data: "x", id: undefined }]);
	});

	it("ignores comment lines and retry lines", () => {
		expect(parseAll(": hello\nretry: 5000\n: again\ndata: x\n\n")).toEqual([
			{ event: "message", data: "x", id: undefined },
		]);
	});

	it("does not dispatch a frame without data and forgets its event name", () => {
		expect(parseAll("event: lonely\n\ndata: x\n\n")).toEqual([{ event: "message", data: "x", id: undefined }]);
		expect(parseAll(": only a comment\nretry: 10\n\n")).toEqual([]);
	});

	it("strips exactly one space after the colon", () => {
		expect(parseAll("data:no-space\n\ndata:  two-spaces\n\n")).toEqual([
			{ event: "message", data: "no-space", id: undefined },
			{ event: "message", data: " two-spaces", id: undefined },
		]);
	});

	it("treats a field name without a colon as having an empty value", () => {
		expect(parseAll("data\n\n")).toEqual([{ event: "message", data: "", id: undefined }]);
	});

	it("keeps the last event id for later events until a new id arrives", () => {
		expect(parseAll("id: 5\ndata: a\n\ndata: b\n\nid: 6\ndata: c\n\n")).toEqual([
			{ event: "message", data: "a", id: "5" },
			{ event: "message", data: "b", id: "5" },
			{ event: "message", data: "c", id: "6" },
		]);
	});

	it("ignores an id field containing NUL", () => {
		expect(parseAll("id: 1\ndata: a\n\nid: 2\u00003\ndata: b\n\n")).toEqual([
			{ event: "message", data: "a", id: "1" },
			{ event: "message", data: "b", id: "1" },
		]);
	});

	it("holds an incomplete trailing line until its end arrives", () => {
		const parser = new SseParser();
		expect(parser.push("data: par")).toEqual([]);
		expect(parser.push("tial\n")).toEqual([]);
		expect(parser.push("\n")).toEqual([{ event: "message", data: "partial", id: undefined }]);
	});

	it("treats CRLF split across two chunks as a single line break", () => {
		const parser = new SseParser();
		expect(parser.push("data: a\r")).toEqual([]);
		expect(parser.push("\ndata: b\r")).toEqual([]);
		expect(parser.push("\n\r")).toEqual([]);
		expect(parser.push("\n")).toEqual([{ event: "message", data: "a\nb", id: undefined }]);
	});
});

describe("encodeFrame → SseParser round trip", () => {
	const payloads: string[] = [
		"",
		" ",
		"hello",
		" leading space",
		"two  spaces",
		"line one\nline two",
		"\n",
		"\n\n",
		"trailing newline\n",
		"\nleading newline",
		"tabs\tand\ttabs",
		"colon: inside",
		": looks like a comment",
		"data: looks like a field",
		"id: 99",
		"unicode: héllo wörld ✓ 日本語 🚀",
		"separators \u2028 and \u2029 stay inside the line",
		"nul \u0000 inside data",
		"emoji at end 👩‍💻",
		JSON.stringify({ nested: { text: "a\nb", list: [1, 2, 3] } }),
		"x".repeat(10_000),
	];

	it.each(payloads.map((p) => [JSON.stringify(p).slice(0, 40), p]))(
		"returns the same string for %s",
		(_label, payload) => {
			const frame = encodeFrame({ event: "output", id: 12, data: payload });
			expect(parseAll(frame)).toEqual([{ event: "output", data: payload, id: "12" }]);
		},
	);

	it("normalises CR and CRLF inside data to LF", () => {
		const frame = encodeFrame({ data: "a\r\nb\rc\nd" });
		expect(parseAll(frame)).toEqual([{ event: "message", data: "a\nb\nc\nd", id: undefined }]);
	});

	it("round-trips object payloads through JSON", () => {
		const data = {
			text: "multi\nline\ttab \u2028 ✓",
			n: 1.5,
			nested: [{ ok: true }, null],
		};
		const [event] = parseAll(encodeFrame({ event: "e", id: 1, data }));
		expect(JSON.parse(event?.data ?? "null")).toEqual(data);
	});

	// A stream of many frames, including comments and retry lines, parsed whole.
	const stream =
		encodeFrame({ comment: "stream open", retry: 1000 }) +
		payloads.map((data, i) => encodeFrame({ event: i % 2 ? "output" : "status", id: i + 1, data })).join("") +
		encodeFrame({ event: "heartbeat", data: {} });
	const expected = [
		...payloads.map((data, i) => ({
			event: i % 2 ? "output" : "status",
			data,
			id: String(i + 1),
		})),
		// heartbeats carry no id, so the last one seen is kept
		{ event: "heartbeat", data: "{}", id: String(payloads.length) },
	];

	it("parses a whole stream of frames into the same events", () => {
		expect(parseAll(stream)).toEqual(expected);
	});

	it("gives the same events when the stream is fed one character at a time", () => {
		expect(parseInPieces([...stream])).toEqual(expected);
	});

	it("gives the same events when the stream is fed one UTF-16 unit at a time", () => {
		expect(parseInPieces(stream.split(""))).toEqual(expected);
	});

	it.each([1, 2, 3, 42, 1337, 9001])("gives the same events for random chunk splits (seed %d)", (seed) => {
		expect(parseInPieces(randomSplit(stream, seed))).toEqual(expected);
	});

	it("gives the same events for random splits of a CRLF-encoded stream", () => {
		const crlf = stream.replaceAll("\n", "\r\n");
		for (const seed of [5, 6, 7, 8]) {
			expect(parseInPieces(randomSplit(crlf, seed))).toEqual(
				expected.map((e) => ({ ...e, data: e.data.replaceAll("\r\n", "\n") })),
			);
		}
	});
});
