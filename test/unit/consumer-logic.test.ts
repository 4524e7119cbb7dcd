import { describe, expect, test } from "bun:test";
import { UsageSniffer } from "../../src/gateway/usage";
import { toConversation } from "../../src/sessions/conversation";
import { sessionChanges } from "../../src/sessions/diff";
import { decidePermission } from "../../src/sessions/permission-policy";
import { answersProblem, defaultAnswers, parseQuestions } from "../../src/sessions/questions";

const WS = "/workspace";
const ask = (permission: string, paths: string[] = [], patterns: string[] = []) => ({
	id: "per_1",
	permission,
	paths,
	patterns,
});

describe("decidePermission", () => {
	test("workspace policy: outside directories and doom loops are rejected with a reason, the rest allowed", () => {
		expect(decidePermission(ask("external_directory", ["/etc/hostname"], ["/etc/*"]), "workspace", WS)).toMatchObject({
			decision: "reject",
		});
		expect(decidePermission(ask("doom_loop"), "workspace", WS).decision).toBe("reject");
		expect(decidePermission(ask("read", ["/workspace/.env"]), "workspace", WS).decision).toBe("allow");
		expect(decidePermission(ask("read", ["/workspace/../etc/passwd"]), "workspace", WS).decision).toBe("reject");
		expect(decidePermission(ask("read", ["/workspace2/x"]), "workspace", WS).decision).toBe("reject");
		expect(decidePermission(ask("edit", [], ["src/*.ts"]), "workspace", WS).decision).toBe("allow");
		for (const d of [ask("external_directory"), ask("doom_loop"), ask("read", ["/x"])]) {
			expect(decidePermission(d, "workspace", WS).reason.length).toBeGreaterThan(10);
		}
	});

	test("allow and reject policies decide everything the same way", () => {
		expect(decidePermission(ask("external_directory", ["/etc"]), "allow", WS).decision).toBe("allow");
		expect(decidePermission(ask("read", ["/workspace/a"]), "reject", WS).decision).toBe("reject");
	});
});

describe("questions", () => {
	const props = {
		questions: [
			{
				question: "Colour?",
				header: "C",
				options: [{ label: "red" }, { label: "blue", description: "(Recommended)" }],
			},
			{ question: "Size?", options: [{ label: "S" }, { label: "M" }], multiple: true },
			{ question: "Free?", options: [] },
		],
	};

	test("parses questions tolerantly and picks the recommended or first option as default", () => {
		const qs = parseQuestions(props);
		expect(qs.map((q) => q.multiple)).toEqual([false, true, false]);
		expect(defaultAnswers(qs)).toEqual([["blue"], ["S"], []]);
		expect(parseQuestions({ questions: "nonsense" })).toEqual([]);
	});

	test("checks answers against the questions", () => {
		const qs = parseQuestions(props);
		expect(answersProblem(qs, [["red"], ["S", "M"], ["anything"]])).toBeUndefined();
		expect(answersProblem(qs, [["red"]])).toContain("one list");
		expect(answersProblem(qs, [["red", "blue"], ["S"], ["x"]])).toContain("one answer");
		expect(answersProblem(qs, [["red"], [], ["x"]])).toContain("empty");
	});
});

describe("conversation and changes from engine messages", () => {
	const messages = [
		{
			info: {
				id: "m1",
				role: "user",
				time: { created: 1_700_000_000_000 },
				summary: {
					diffs: [
						{ file: "a.txt", patch: "+a\n", additions: 1, deletions: 0, status: "added" },
						{ file: "b.txt", patch: "-b\n+c\n", additions: 1, deletions: 1, status: "modified" },
					],
				},
			},
			parts: [{ type: "text", text: "do it" }],
		},
		{
			info: { id: "m2", role: "assistant", time: { created: 1_700_000_001_000 } },
			parts: [
				{ type: "step-start" },
				{ type: "text", text: "Working. " },
				{
					type: "tool",
					callID: "c1",
					tool: "write",
					state: { status: "completed", input: { filePath: "a.txt" }, output: "ok" },
				},
				{ type: "text", text: "Done." },
				{ type: "text", text: "hidden", synthetic: true },
			],
		},
		{
			info: {
				id: "m3",
				role: "user",
				summary: { diffs: [{ file: "a.txt", patch: "+more\n", additions: 1, deletions: 0, status: "modified" }] },
			},
			parts: [],
		},
		"junk",
	];

	test("maps roles, text and tool calls", () => {
		const c = toConversation(messages);
		expect(c.map((m) => m.role)).toEqual(["user", "assistant", "user"]);
		expect(c[0]?.created_at).toBe("2023-11-14T22:13:20.000Z");
		expect(c[1]?.text).toBe("Working. Done.");
		expect(c[1]?.tool_calls).toEqual([
			{ call_id: "c1", tool: "write", args: { filePath: "a.txt" }, status: "completed", output: "ok" },
		]);
		expect(c[2]?.created_at).toBeNull();
	});

	test("combines the runs' diffs per file", () => {
		expect(sessionChanges(messages)).toEqual([
			{ path: "a.txt", status: "added", additions: 2, deletions: 0, diff: "+a\n+more\n" },
			{ path: "b.txt", status: "modified", additions: 1, deletions: 1, diff: "-b\n+c\n" },
		]);
	});
});

describe("UsageSniffer", () => {
	test("reads usage from each provider's stream, whatever the chunking", () => {
		const feed = (format: "chat" | "responses" | "anthropic", text: string) => {
			const s = new UsageSniffer(format);
			for (let i = 0; i < text.length; i += 7) s.push(text.slice(i, i + 7));
			return s.totals;
		};
		expect(
			feed(
				"chat",
				'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4}}\n\ndata: [DONE]\n\n',
			),
		).toEqual({ input: 10, output: 4 });
		expect(
			feed(
				"responses",
				'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{"input_tokens":20,"output_tokens":5}}}\n\n',
			),
		).toEqual({ input: 20, output: 5 });
		expect(
			feed(
				"anthropic",
				'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":30,"output_tokens":1}}}\n\nevent: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\n',
			),
		).toEqual({ input: 30, output: 9 });
		expect(feed("chat", "data: {not json token}\n\n")).toEqual({ input: 0, output: 0 });
	});
});
