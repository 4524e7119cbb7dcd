import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type EngineEvent, engineSessionOf } from "../../src/engine/events";
import { reconcileEvents } from "../../src/engine/reconcile";
import { toolSwitches } from "../../src/engine/tools";
import type { RunOutcome } from "../../src/engine/translate";
import { engineError } from "../../src/engine/v2/errors";
import { FeedMapper } from "../../src/engine/v2/feed-map";
import { formAnswer, questionsOfForm } from "../../src/engine/v2/forms";
import { messagesAsV1 } from "../../src/engine/v2/messages";
import { contractToolInput, toolRules } from "../../src/engine/v2/tool-names";
import type { LoggedEvent } from "../../src/events/catalogue";
import { FollowedRun } from "./followed-run";

/**
 * Frames of the real OpenCode 2.1.2 (`GET /api/event`) and its message lists, captured from
 * scripted runs through its own API (test/fixtures/engine-events/README.md): a shell call, a
 * write, a call of the absent `todowrite`, a read outside the workspace (permission rejected)
 * and text; a question (a form) answered; a provider 401.
 */
type Capture = { frames: Record<string, unknown>[]; messages: unknown[]; forms?: unknown[]; permissions?: unknown[] };
const CAPTURES = JSON.parse(
	readFileSync(join(import.meta.dir, "../fixtures/engine-events/opencode-2.1.2-runs.json"), "utf8"),
) as Record<"tools" | "question" | "error", Capture>;
const NOW = Date.parse("2026-12-07T20:00:00.000Z");

function directoryOf(c: Capture): string {
	const location = c.frames.find((f) => f.location !== undefined)?.location as { directory: string } | undefined;
	if (!location) throw new Error("a capture without a location");
	return location.directory;
}

function mapped(c: Capture, directory = directoryOf(c)): EngineEvent[] {
	const mapper = new FeedMapper(directory);
	return c.frames.flatMap((f) => {
		const frame = mapper.read(JSON.stringify(f));
		return frame?.kind === "event" ? [...frame.events] : [];
	});
}

function replay(events: readonly EngineEvent[], workspaceDir: string) {
	const t = new FollowedRun({ workspaceDir, redact: (s) => s });
	t.beginRun(0);
	const out: LoggedEvent[] = [];
	const outcomes: RunOutcome[] = [];
	for (const e of events) {
		const r = t.follow(e, NOW);
		out.push(...r.events);
		if (r.outcome) outcomes.push(r.outcome);
	}
	return { t, events: out, outcomes };
}

const calls = (events: LoggedEvent[]) => events.filter((e) => e.event === "tool_call").map((e) => e.data);
const results = (events: LoggedEvent[]) => events.filter((e) => e.event === "tool_result").map((e) => e.data);

describe("the 2.x feed mapped onto the port's events, through the shared translation", () => {
	const tools = CAPTURES.tools;
	const workspace = directoryOf(tools);

	test("tool calls carry the contract's names and arguments (shell → bash, path → filePath)", () => {
		const r = replay(mapped(tools), workspace);
		expect(calls(r.events).map((c) => c.tool)).toEqual(["bash", "write", "todowrite", "read"]);
		expect(calls(r.events)[0]?.args).toEqual({ command: "echo hi; echo there", description: "echo" });
		expect(calls(r.events)[1]?.args).toEqual({ filePath: "a.txt", content: "x\n" });
		const res = results(r.events);
		expect(res.map((x) => [x.tool, x.is_error])).toEqual([
			["bash", false],
			["write", false],
			["todowrite", true],
			["read", true],
		]);
		expect(res[0]?.result).toMatchObject({ output: "hi\nthere\n" });
		// 2.x reports no live shell output: it is shown whole, as tool output, before the result.
		const shown = r.events.flatMap((e) =>
			e.event === "output" && e.data.source === "tool" && e.data.type === "stdout" ? [e.data.text] : [],
		);
		expect(shown).toEqual(["hi\nthere\n"]);
	});

	test("the run completes once, with its final text, the file written and the usage of every step", () => {
		const r = replay(mapped(tools), workspace);
		expect(r.outcomes).toEqual([{ status: "completed" }]);
		expect(r.t.finalMessage).toBe("All done.");
		expect(r.t.filesModified).toEqual(["a.txt"]);
		expect(r.t.usage).toMatchObject({ input_tokens: 5568 + 5639 + 5709 + 5820 + 5899, output_tokens: 52 });
		const text = r.events.flatMap((e) => (e.event === "output" && e.data.source === "assistant" ? [e.data.text] : []));
		expect(text.join("")).toBe("Running.All done.");
	});

	test("a permission request reads as 1.x's: its action, its resources as patterns", () => {
		const asked = mapped(tools).filter((e) => e.type === "permission.asked");
		expect(asked.map((e) => e.properties)).toEqual([
			expect.objectContaining({ permission: "external_directory", patterns: ["/etc/*"] }),
		]);
		expect(asked[0]?.properties.id).toMatch(/^per_/);
	});

	test("frames of another location are dropped; frames without one are kept", () => {
		expect(mapped(tools, "/elsewhere").filter((e) => e.type === "message.part.updated")).toEqual([]);
		expect(mapped(tools, "/elsewhere").map((e) => e.type)).toContain("session.idle");
	});

	test("a question's form reads as 1.x's question, and labels answer it", () => {
		const q = CAPTURES.question;
		const asked = mapped(q).filter((e) => e.type === "question.asked");
		expect(asked).toEqual([]); // this capture's form was listed, not seen on the feed (it came before the feed read it)
		const form = q.forms?.[0] as Record<string, unknown>;
		expect(questionsOfForm(form)).toEqual([
			{
				question: "Which?",
				header: "Pick",
				options: [
					{ label: "A (Recommended)", description: "first" },
					{ label: "B", description: "second" },
				],
				multiple: false,
			},
		]);
		expect(formAnswer(form, [["B"]])).toEqual({ q0: "B" });
		const fromFeed = new FeedMapper("/w").map("form.created", form);
		expect(fromFeed[0]).toMatchObject({
			type: "question.asked",
			properties: { id: form.id, sessionID: form.sessionID },
		});
	});

	test("a provider's 401 fails the run as provider_auth", () => {
		const r = replay(mapped(CAPTURES.error), directoryOf(CAPTURES.error));
		expect(r.outcomes).toEqual([
			{ status: "failed", code: "provider_auth", error: "provider rejected the credentials (401): bad key" },
		]);
	});

	test("an interrupted run ends as aborted", () => {
		const m = new FeedMapper("/w");
		const events = [
			...m.map("session.execution.started", { sessionID: "ses_1" }),
			...m.map("session.execution.interrupted", { sessionID: "ses_1" }),
		];
		expect(replay(events, "/w").outcomes).toEqual([{ status: "aborted" }]);
		expect(engineError({ type: "provider.rate_limit", message: "slow down", status: 429 })).toEqual({
			name: "APIError",
			data: { message: "slow down", statusCode: 429 },
		});
	});
});

describe("the 2.x message list as 1.x messages, for the shared reconciliation", () => {
	test("reconciling a finished run from its message list yields what the live feed did", () => {
		const tools = CAPTURES.tools;
		const workspace = directoryOf(tools);
		const live = replay(mapped(tools), workspace);
		const sessionID = engineSessionOf(mapped(tools)[0] as EngineEvent) as string;
		const messages = messagesAsV1(sessionID, tools.messages);
		const events = reconcileEvents({
			engineSessionId: sessionID,
			state: { status: "idle", messages, todos: [] },
			runStartedAt: 0,
			progress: () => undefined,
		});
		const again = replay(events, workspace);
		expect(again.outcomes).toEqual([{ status: "completed" }]);
		expect(calls(again.events)).toEqual(calls(live.events));
		expect(results(again.events).map((r) => [r.tool, r.call_id, r.is_error])).toEqual(
			results(live.events).map((r) => [r.tool, r.call_id, r.is_error]),
		);
		expect(again.t.finalMessage).toBe(live.t.finalMessage);
		expect(again.t.filesModified).toEqual(live.t.filesModified);
		expect(again.t.usage).toEqual(live.t.usage);
	});

	test("parts already emitted live are not emitted again (same part ids as the feed)", () => {
		const tools = CAPTURES.tools;
		const workspace = directoryOf(tools);
		const live = replay(mapped(tools), workspace);
		const sessionID = engineSessionOf(mapped(tools)[0] as EngineEvent) as string;
		const events = reconcileEvents({
			engineSessionId: sessionID,
			state: { status: "busy", messages: messagesAsV1(sessionID, tools.messages), todos: [] },
			runStartedAt: 0,
			progress: (id) => live.t.progressOf(id),
		});
		const more: LoggedEvent[] = [];
		for (const e of events) more.push(...live.t.follow(e, NOW).events);
		expect(more.filter((e) => e.event !== "status")).toEqual([]);
	});
});

describe("tool names per generation", () => {
	test("the sessions' switches become deny rules for every 2.x tool no switched-on tool stands for", () => {
		const rules = toolRules(toolSwitches(["read"]));
		const denied = rules.map((r) => r.action).sort();
		expect(denied).toEqual(["edit", "execute", "shell", "skill", "subagent", "webfetch", "websearch", "write"]);
		expect(rules.every((r) => r.effect === "deny" && r.resource === "*")).toBe(true);
		expect(toolRules(toolSwitches(["bash", "read", "write", "edit", "web"])).map((r) => r.action)).toEqual([
			"skill",
			"subagent",
		]);
	});

	test("path arguments are shown as 1.x's filePath; others are left alone", () => {
		expect(contractToolInput("write", { path: "a", content: "" })).toEqual({ filePath: "a", content: "" });
		expect(contractToolInput("shell", { path: "a" })).toEqual({ path: "a" });
	});
});
