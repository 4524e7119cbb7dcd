import { describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import type { EngineEvent } from "../../src/engine/events";
import { RunTranslator } from "../../src/engine/translate";
import type { LoggedEvent } from "../../src/events/catalogue";
import { textHeld } from "../support/text-held";

/**
 * An ended session stays stored (up to MAX_STORED_SESSIONS) with its translator: what the
 * translator kept of a run's engine messages goes at the run's end (issue 13), and nothing of
 * an ended run is emitted again by a follow-up.
 */

const SES = "ses_release";
const NOW = Date.UTC(2026, 11, 1, 18, 0, 0);

const message = (id: string, role: "user" | "assistant"): EngineEvent => ({
	type: "message.updated",
	properties: { sessionID: SES, info: { id, role, sessionID: SES, time: { created: NOW } } },
});
const text = (id: string, messageID: string, body: string): EngineEvent => ({
	type: "message.part.updated",
	properties: { sessionID: SES, part: { id, messageID, sessionID: SES, type: "text", text: body } },
});
const delta = (partID: string, messageID: string, body: string): EngineEvent => ({
	type: "message.part.delta",
	properties: { sessionID: SES, partID, messageID, field: "text", delta: body },
});
const tool = (id: string, messageID: string, extra: Record<string, unknown> = {}): EngineEvent => ({
	type: "message.part.updated",
	properties: {
		sessionID: SES,
		part: {
			id,
			messageID,
			sessionID: SES,
			type: "tool",
			tool: "bash",
			callID: `call_${id}`,
			state: { status: "completed", input: { command: "ls" }, output: "a.txt\n", metadata: {}, ...extra },
		},
	},
});

function feed(t: RunTranslator, events: readonly EngineEvent[]): LoggedEvent[] {
	return events.flatMap((e) => t.translate(e, NOW, true).events);
}

const translator = () => new RunTranslator({ workspaceDir: "/workspace", redact: (s) => s });

/** What the engine may still send about run 1's message after it ended: it compacts old tool output, repeats a part, sends a late delta. */
const lateEventsOfFirstRun = () => [
	tool("prt_t1", "msg_a1", { time: { start: NOW, end: NOW, compacted: NOW + 1000 } }),
	text("prt_1", "msg_a1", "first answer"),
	delta("prt_1", "msg_a1", " more"),
	message("msg_a1", "assistant"),
];

describe("RunTranslator after a run's end", () => {
	it("lets go of the text of the run's parts", () => {
		const t = translator();
		const size = 1 << 20;
		t.beginRun(NOW);
		feed(t, [
			message("msg_u1", "user"),
			message("msg_a1", "assistant"),
			text("prt_1", "msg_a1", randomBytes(size / 2).toString("hex")),
			delta("prt_1", "msg_a1", "x".repeat(1000)),
		]);
		expect(textHeld(t)).toBeGreaterThan(size);
		t.runEnded();
		expect(textHeld(t)).toBeLessThan(1000);
		expect(t.progressOf("prt_1")).toBeUndefined();
	});

	it("keeps the session's changed files and usage", () => {
		const t = translator();
		t.beginRun(NOW);
		feed(t, [
			message("msg_a1", "assistant"),
			{
				type: "message.part.updated",
				properties: {
					sessionID: SES,
					part: {
						id: "prt_w",
						messageID: "msg_a1",
						sessionID: SES,
						type: "tool",
						tool: "write",
						callID: "call_w",
						state: { status: "completed", input: { filePath: "/workspace/a.txt" }, output: "", metadata: {} },
					},
				},
			},
			{
				type: "message.part.updated",
				properties: {
					sessionID: SES,
					part: { id: "prt_s", messageID: "msg_a1", type: "step-finish", tokens: { input: 10, output: 2 }, cost: 0 },
				},
			},
		]);
		t.runEnded();
		expect(t.filesModified).toEqual(["a.txt"]);
		expect(t.usage.input_tokens).toBe(10);
		expect(t.usage.output_tokens).toBe(2);
	});

	it("emits nothing more of the ended run in a follow-up, and the follow-up's own parts in full", () => {
		const t = translator();
		t.beginRun(NOW);
		const first = feed(t, [
			message("msg_u1", "user"),
			message("msg_a1", "assistant"),
			text("prt_1", "msg_a1", "first answer"),
			tool("prt_t1", "msg_a1"),
		]);
		expect(first.map((e) => e.event)).toEqual(["output", "tool_call", "tool_result"]);
		t.runEnded();
		t.beginRun(NOW + 1000);
		const second = feed(t, [
			...lateEventsOfFirstRun(),
			message("msg_u2", "user"),
			message("msg_a2", "assistant"),
			text("prt_2", "msg_a2", "second"),
			delta("prt_2", "msg_a2", " answer"),
		]);
		expect(second.map((e) => (e.event === "output" ? e.data.text : e.event))).toEqual(["second", " answer"]);
		expect(t.finalMessage).toBe("second answer");
	});

	it("hands over to a follow-up's new translator only ids and counters, and it emits nothing of the ended run", () => {
		const t = translator();
		t.beginRun(NOW);
		feed(t, [
			message("msg_u1", "user"),
			message("msg_a1", "assistant"),
			text("prt_1", "msg_a1", "first answer"),
			tool("prt_t1", "msg_a1"),
			{
				type: "todo.updated",
				properties: { sessionID: SES, todos: [{ content: "step 1", status: "completed" }] },
			},
		]);
		t.runEnded();
		const carry = t.carry();
		expect(carry).toEqual({ files: [], closed: ["msg_u1", "msg_a1"], todosDone: ["step 1"], progress: 100 });
		// The session keeps the carry, not the translator (issue 13); the next run gets a new one.
		const next = new RunTranslator({ workspaceDir: "/workspace", redact: (s) => s, initial: carry });
		next.beginRun(NOW + 1000);
		const second = feed(next, [
			...lateEventsOfFirstRun(),
			// The engine's todo list outlives the run: an item done before is not announced again.
			{
				type: "todo.updated",
				properties: {
					sessionID: SES,
					todos: [
						{ content: "step 1", status: "completed" },
						{ content: "step 2", status: "pending" },
					],
				},
			},
			message("msg_u2", "user"),
			message("msg_a2", "assistant"),
			text("prt_2", "msg_a2", "second"),
		]);
		expect(second.map((e) => (e.event === "output" ? e.data.text : e.event))).toEqual(["status", "second"]);
		expect(next.finalMessage).toBe("second");
	});
});
