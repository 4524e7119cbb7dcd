import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type EngineEvent, engineSessionOf, parseEngineEvent } from "../../src/engine/events";
import type { RunOutcome, TranslatorOptions } from "../../src/engine/translate";
import type { LoggedEvent } from "../../src/events/catalogue";
import { isoTime } from "../../src/lib/clock";
import { FollowedRun } from "./followed-run";

/**
 * Recorded `/event` streams of opencode 1.18.33 (copied from the shared engine
 * samples): one engine event per line, several sessions interleaved per file.
 */
const FIXTURES = join(import.meta.dir, "../fixtures/engine-samples");

function loadFixture(name: string): EngineEvent[] {
	return readFileSync(join(FIXTURES, `opencode-1.18.33-${name}.jsonl`), "utf8")
		.split("\n")
		.filter((line) => line.trim() !== "")
		.map((line) => {
			const event = parseEngineEvent(line);
			if (!event) throw new Error(`not an engine event: ${line.slice(0, 80)}`);
			return event;
		});
}

const BASH = "ses_e028fe52effeyXhmfg17upWzKF";
const ABORTED = "ses_e028bf4a8ffe78IwWs9c1GMH5V";
const UNAUTHORIZED = "ses_e028bf461ffeUdY3zsbE26TQhw";
const RATE_LIMITED = "ses_e028bf419ffeOQBAwOCQi78ZTO";
const TODOS = "ses_e027f6b83ffebc5en2ZcNi3CoL";

const bashFile = loadFixture("bash-tool-turn");
const failuresFile = loadFixture("abort-401-ratelimit");
const todoFile = loadFixture("question-todo-permission");

const sessionOf = (events: EngineEvent[], id: string) => events.filter((e) => engineSessionOf(e) === id);

const NOW = Date.UTC(2026, 10, 21, 9, 33, 25);
const identity = (text: string) => text;

interface Run {
	readonly translator: FollowedRun;
	readonly events: LoggedEvent[];
	readonly outcomes: RunOutcome[];
}

/** A translator followed by a run machine, which decides when the run ends (as the sessions do). */
function translator(options: Partial<TranslatorOptions> = {}): FollowedRun {
	return new FollowedRun({
		workspaceDir: "/workspace",
		redact: identity,
		...options,
	});
}

/** Feeds `engineEvents` in order and collects everything the translator says. */
function feed(t: FollowedRun, engineEvents: readonly EngineEvent[], now = NOW): Run {
	const events: LoggedEvent[] = [];
	const outcomes: RunOutcome[] = [];
	for (const e of engineEvents) {
		const result = t.follow(e, now);
		events.push(...result.events);
		if (result.outcome) outcomes.push(result.outcome);
	}
	return { translator: t, events, outcomes };
}

function run(engineEvents: readonly EngineEvent[], options: Partial<TranslatorOptions> = {}, now = NOW): Run {
	const t = translator(options);
	t.beginRun();
	return feed(t, engineEvents, now);
}

/** Text of every `output` event, tagged with its source. */
const outputs = (events: LoggedEvent[]) =>
	events.flatMap((e) => (e.event === "output" ? [[e.data.source, e.data.type, e.data.text]] : []));

/** A copy of a recorded event with some properties replaced. */
function edit(
	e: EngineEvent | undefined,
	change: (properties: Record<string, unknown>) => Record<string, unknown>,
): EngineEvent {
	if (!e) throw new Error("fixture event missing");
	return { type: e.type, properties: change(structuredClone(e.properties)) };
}

describe("RunTranslator on a recorded bash tool turn", () => {
	const session = sessionOf(bashFile, BASH);
	const { translator: t, events, outcomes } = run(session);

	it("emits assistant text, the tool call, live tool output and the tool result in order", () => {
		expect(events.map((e) => e.event)).toEqual([
			"output",
			"tool_call",
			"output",
			"tool_result",
			"output",
			"output",
			"output",
		]);
		expect(outputs(events)).toEqual([
			["assistant", "stdout", "Let me run a command. "],
			["tool", "stdout", "done\n"],
			["assistant", "stdout", "All "],
			["assistant", "stdout", "done. "],
			["assistant", "stdout", "File written."],
		]);
	});

	it("announces the tool call once with its arguments", () => {
		const calls = events.filter((e) => e.event === "tool_call");
		expect(calls).toEqual([
			{
				event: "tool_call",
				data: {
					tool: "bash",
					args: {
						command: "echo hello > out.txt && echo done",
						description: "write file",
					},
					call_id: "call_1",
					timestamp: isoTime(NOW),
				},
			},
		]);
	});

	it("labels live tool output with the tool and its call", () => {
		expect(events[2]).toEqual({
			event: "output",
			data: {
				type: "stdout",
				text: "done\n",
				source: "tool",
				tool: "bash",
				call_id: "call_1",
				timestamp: isoTime(NOW),
			},
		});
	});

	it("reports the tool result without repeating the live output in its metadata", () => {
		expect(events[3]).toEqual({
			event: "tool_result",
			data: {
				tool: "bash",
				result: {
					output: "done\n",
					title: "echo hello > out.txt && echo done",
					metadata: { exit: 0, truncated: false },
				},
				call_id: "call_1",
				is_error: false,
				timestamp: isoTime(NOW),
			},
		});
	});

	it("completes exactly once although the engine reports idle twice", () => {
		const idles = session.filter(
			(e) =>
				e.type === "session.idle" ||
				(e.type === "session.status" && (e.properties.status as { type?: string }).type === "idle"),
		);
		expect(idles.length).toBeGreaterThanOrEqual(2);
		expect(outcomes).toEqual([{ status: "completed" }]);
		expect(t.inRun).toBe(false);
	});

	it("takes the final message from the last assistant message", () => {
		expect(t.finalMessage).toBe("All done. File written.");
	});

	it("lists changed files relative to the workspace", () => {
		expect(t.filesModified).toEqual(["out.txt"]);
	});

	it("ignores changed files outside another workspace", () => {
		const other = run(session, { workspaceDir: "/srv/other" });
		expect(other.translator.filesModified).toEqual([]);
	});

	it("sums usage over the steps", () => {
		expect(t.usage).toEqual({
			input_tokens: 10,
			output_tokens: 5,
			reasoning_tokens: 0,
			cache_read_tokens: 0,
			cache_write_tokens: 0,
			cost: 0,
		});
	});

	it("never emits the user's prompt", () => {
		expect(JSON.stringify(events)).not.toContain("write hello to out.txt");
	});

	it("stamps every event with the time it was given", () => {
		const later = run(session, {}, NOW + 1234);
		for (const e of later.events) expect(e.data.timestamp).toBe(isoTime(NOW + 1234));
	});

	it("does not repeat events or usage when part updates arrive again", () => {
		// Updates carry whole states (unlike deltas), so a repeated one adds nothing.
		const repeated = run(
			session.flatMap((e) => (e.type === "message.part.updated" || e.type === "message.updated" ? [e, e] : [e])),
		);
		expect(repeated.events).toEqual(events);
		expect(repeated.outcomes).toEqual([{ status: "completed" }]);
		expect(repeated.translator.usage).toEqual(t.usage);
		expect(repeated.translator.filesModified).toEqual(["out.txt"]);
	});
});

describe("RunTranslator on a recorded multi-step todo run", () => {
	const { translator: t, events, outcomes } = run(sessionOf(todoFile, TODOS));

	it("sums usage and cost over every step-finish", () => {
		const usage = t.usage;
		expect({ ...usage, cost: 0 }).toEqual({
			input_tokens: 150,
			output_tokens: 30,
			reasoning_tokens: 0,
			cache_read_tokens: 0,
			cache_write_tokens: 0,
			cost: 0,
		});
		expect(usage.cost).toBeCloseTo(3 * 0.0000135, 12);
	});

	it("adds usage and files recorded by earlier runs of the session", () => {
		const resumed = run(sessionOf(todoFile, TODOS), {
			initial: {
				files: ["earlier.txt"],
				usage: {
					input_tokens: 1,
					output_tokens: 2,
					reasoning_tokens: 3,
					cache_read_tokens: 4,
					cache_write_tokens: 5,
					cost: 1,
				},
			},
		});
		expect(resumed.translator.usage.input_tokens).toBe(151);
		expect(resumed.translator.usage.output_tokens).toBe(32);
		expect(resumed.translator.usage.reasoning_tokens).toBe(3);
		expect(resumed.translator.usage.cache_write_tokens).toBe(5);
		expect(resumed.translator.usage.cost).toBeCloseTo(1.0000405, 10);
		expect(resumed.translator.filesModified).toEqual(["earlier.txt"]);
	});

	it("reports both tool calls with results and completes once", () => {
		const progress = (e: (typeof events)[number]) =>
			e.event === "status" || (e.event === "output" && e.data.source === "sidecar");
		expect(events.filter((e) => !progress(e)).map((e) => e.event)).toEqual([
			"tool_call",
			"tool_result",
			"tool_call",
			"tool_result",
			"output",
			"output",
		]);
		expect(outcomes).toEqual([{ status: "completed" }]);
		expect(t.finalMessage).toBe("All todos done. FINAL-ANSWER-OK");
	});

	it("turns the todo list into progress and announces each finished item once", () => {
		const statuses = events.filter((e) => e.event === "status");
		expect(statuses.map((e) => (e.data as { progress?: number }).progress)).toEqual([
			...new Set(statuses.map((e) => (e.data as { progress?: number }).progress)),
		]);
		const last = statuses.at(-1)?.data as { status: string; progress: number } | undefined;
		expect(last?.status).toBe("running");
		expect(last?.progress).toBe(t.progress as number);
		expect(t.progress).toBeGreaterThan(0);
		const done = events.filter((e) => e.event === "output" && e.data.source === "sidecar");
		expect(done.length).toBeGreaterThan(0);
		const texts = done.map((e) => (e.data as { text: string }).text);
		expect(new Set(texts).size).toBe(texts.length);
		for (const text of texts) expect(text).toMatch(/^Done: .+ \(\d+\/\d+\)\n$/);
	});

	it("never emits any user prompt of the recording", () => {
		const userMessages = new Set(
			todoFile.flatMap((e) => {
				const info = e.properties.info as { id?: string; role?: string };
				return e.type === "message.updated" && info.role === "user" ? [info.id] : [];
			}),
		);
		const prompts = todoFile.flatMap((e) => {
			const part = e.properties.part as { messageID?: string; text?: string } | undefined;
			return e.type === "message.part.updated" && userMessages.has(part?.messageID) && part?.text ? [part.text] : [];
		});
		expect(prompts).toContain("go [[todo]]");
		for (const id of [TODOS, "ses_e027f6beaffeedBIday57p61hs", "ses_e027f68e0ffeOVhCUtP9cNUwlc"]) {
			const texts = outputs(run(sessionOf(todoFile, id)).events).map((o) => o[2]);
			for (const p of prompts) expect(texts).not.toContain(p);
		}
	});
});

describe("RunTranslator run boundaries", () => {
	const session = sessionOf(bashFile, BASH);
	const lastIdle = session.findLast((e) => e.type === "session.idle");

	it("ignores idle before beginRun()", () => {
		const t = translator();
		const { outcomes, events } = feed(t, session);
		expect(outcomes).toEqual([]);
		// Content is still translated; only the run's end is not claimed.
		expect(outputs(events)).toHaveLength(5);
		expect(t.inRun).toBe(false);
	});

	it("ignores idle after beginRun() until the engine has been busy", () => {
		const t = translator();
		t.beginRun();
		if (!lastIdle) throw new Error("fixture has no session.idle");
		expect(t.follow(lastIdle, NOW).outcome).toBeUndefined();
		expect(t.inRun).toBe(true);
		expect(feed(t, session).outcomes).toEqual([{ status: "completed" }]);
	});

	it("ignores the rest of a run ended from outside", () => {
		const t = translator();
		t.beginRun();
		const busyAt = session.findIndex((e) => e.type === "session.status");
		feed(t, session.slice(0, busyAt + 1));
		t.endRun();
		expect(feed(t, session.slice(busyAt + 1)).outcomes).toEqual([]);
	});

	it("completes a second run of the same session", () => {
		const t = translator();
		t.beginRun();
		expect(feed(t, session).outcomes).toEqual([{ status: "completed" }]);
		t.beginRun();
		expect(feed(t, session).outcomes).toEqual([{ status: "completed" }]);
	});
});

describe("RunTranslator on recorded failures", () => {
	it("reports an aborted run as aborted, once", () => {
		const { outcomes, events, translator: t } = run(sessionOf(failuresFile, ABORTED));
		expect(outcomes).toEqual([{ status: "aborted" }]);
		expect(outputs(events).map((o) => o[2])).toEqual([
			"tok0 ",
			"tok1 ",
			"tok2 ",
			"tok3 ",
			"tok4 ",
			"tok5 ",
			"tok6 ",
			"tok7 ",
		]);
		expect(t.finalMessage).toBe("tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 ");
	});

	it("reports a 401 as failed provider_auth with the provider's message", () => {
		const { outcomes, events } = run(sessionOf(failuresFile, UNAUTHORIZED));
		expect(events).toEqual([]);
		expect(outcomes).toHaveLength(1);
		const outcome = outcomes[0];
		expect(outcome?.status).toBe("failed");
		if (outcome?.status !== "failed") return;
		expect(outcome.code).toBe("provider_auth");
		expect(outcome.error).toContain("401");
		expect(outcome.error).toContain("Incorrect API key provided");
	});

	it("redacts secrets from a provider error", () => {
		const SECRET = "sk-SENTINEL-9f8e7d";
		const session = sessionOf(failuresFile, UNAUTHORIZED).map((e) =>
			e.type === "session.error"
				? edit(e, (p) => {
						const error = p.error as { data: { message: string } };
						error.data.message = `Incorrect API key provided: ${SECRET}`;
						return p;
					})
				: e,
		);
		const { outcomes } = run(session, {
			redact: (text) => text.replaceAll(SECRET, "[REDACTED]"),
		});
		const outcome = outcomes[0];
		if (outcome?.status !== "failed") throw new Error("expected a failure");
		expect(outcome.error).not.toContain(SECRET);
		expect(outcome.error).toContain("Incorrect API key provided: [REDACTED]");
	});

	it("turns each retry into a non-fatal rate-limit error with seconds until the retry", () => {
		const session = sessionOf(failuresFile, RATE_LIMITED);
		const retries = session.filter(
			(e) => e.type === "session.status" && (e.properties.status as { type?: string }).type === "retry",
		);
		expect(retries).toHaveLength(3);
		const next = (e: EngineEvent) => (e.properties.status as { next: number }).next;

		const t = translator();
		t.beginRun();
		const errors: LoggedEvent[] = [];
		for (const e of session) {
			// Receive each retry 6.5 s before it is due.
			const now = retries.includes(e) ? next(e) - 6500 : NOW;
			const result = t.follow(e, now);
			errors.push(...result.events);
			expect(result.outcome).toBeUndefined();
		}
		expect(errors).toEqual(
			[1, 2, 3].map((attempt, i) => ({
				event: "error",
				data: {
					error: `Rate limit reached (attempt ${attempt})`,
					fatal: false,
					retry_after: 7,
					code: "provider_rate_limited",
					timestamp: isoTime(next(retries[i] as EngineEvent) - 6500),
				},
			})),
		);
	});

	it("never gives a negative retry_after when the retry time has passed", () => {
		const session = sessionOf(failuresFile, RATE_LIMITED);
		const retry = session.find((e) => (e.properties.status as { type?: string } | undefined)?.type === "retry");
		const t = translator();
		t.beginRun();
		const { events } = t.follow(retry as EngineEvent, Date.UTC(2030, 0, 1));
		expect(events).toHaveLength(1);
		const e = events[0];
		expect(e?.event === "error" && e.data.retry_after).toBe(0);
	});

	it("redacts secrets from a retry message and calls other retries provider errors", () => {
		const SECRET = "sk-SENTINEL-1a2b3c";
		const retry = sessionOf(failuresFile, RATE_LIMITED).find(
			(e) => (e.properties.status as { type?: string } | undefined)?.type === "retry",
		);
		const overloaded = edit(retry, (p) => {
			const status = p.status as Record<string, unknown>;
			status.message = `Overloaded for key ${SECRET}`;
			return p;
		});
		const t = translator({
			redact: (text) => text.replaceAll(SECRET, "[REDACTED]"),
		});
		t.beginRun();
		const [event] = t.follow(overloaded, NOW).events;
		expect(event?.event).toBe("error");
		if (event?.event !== "error") return;
		expect(event.data.error).toBe("Overloaded for key [REDACTED] (attempt 1)");
		expect(event.data.code).toBe("provider_error");
		expect(event.data.fatal).toBe(false);
	});

	it("ignores retries outside a run", () => {
		const session = sessionOf(failuresFile, RATE_LIMITED);
		expect(feed(translator(), session).events).toEqual([]);
	});
});

describe("RunTranslator on a failing tool", () => {
	const session = sessionOf(bashFile, BASH);
	const completedTool = session.find(
		(e) =>
			e.type === "message.part.updated" &&
			(e.properties.part as { state?: { status?: string } }).state?.status === "completed",
	);
	const SECRET = "sk-SENTINEL-tool";
	const failedTool = edit(completedTool, (p) => {
		const part = p.part as { state: Record<string, unknown> };
		part.state = {
			status: "error",
			input: part.state.input,
			error: `bash: ${SECRET}: command not found`,
			time: part.state.time,
		};
		return p;
	});
	const withFailure = session.map((e) => (e === completedTool ? failedTool : e));

	it("reports the error as stderr tool output and a failed tool result", () => {
		const { events } = run(withFailure, {
			redact: (text) => text.replaceAll(SECRET, "[REDACTED]"),
		});
		const error = "bash: [REDACTED]: command not found";
		const at = events.findIndex((e) => e.event === "tool_result");
		expect(events.slice(at - 1, at + 1)).toEqual([
			{
				event: "output",
				data: {
					type: "stderr",
					text: error,
					source: "tool",
					tool: "bash",
					call_id: "call_1",
					timestamp: isoTime(NOW),
				},
			},
			{
				event: "tool_result",
				data: {
					tool: "bash",
					result: { error },
					call_id: "call_1",
					is_error: true,
					timestamp: isoTime(NOW),
				},
			},
		]);
		expect(JSON.stringify(events)).not.toContain(SECRET);
	});

	it("announces the call before its error when the running state was never seen", () => {
		const onlyFailure = withFailure.filter(
			(e) =>
				!(
					e.type === "message.part.updated" &&
					(e.properties.part as { state?: { status?: string } }).state?.status === "running"
				),
		);
		const { events } = run(onlyFailure);
		expect(
			events
				.filter((e) => e.event !== "output" || e.data.source === "tool")
				.map((e) => [e.event, e.event === "output" ? e.data.type : ""]),
		).toEqual([
			["tool_call", ""],
			["output", "stderr"],
			["tool_result", ""],
		]);
	});
});

describe("RunTranslator on constructed parts", () => {
	const session = sessionOf(bashFile, BASH);
	const partOf = (e: EngineEvent) =>
		e.properties.part as Record<string, unknown> & {
			type?: string;
			text?: string;
			messageID?: string;
			state?: Record<string, unknown>;
		};
	const firstText = session.find(
		(e) => e.type === "message.part.updated" && partOf(e).type === "text" && partOf(e).text === "",
	) as EngineEvent;
	const patch = session.find((e) => e.type === "message.part.updated" && partOf(e).type === "patch") as EngineEvent;
	const completedTool = session.find(
		(e) => e.type === "message.part.updated" && partOf(e).state?.status === "completed",
	) as EngineEvent;
	/** Everything up to the first assistant text part (messages known, engine busy). */
	const assistantSetup = session.slice(0, session.indexOf(firstText));
	/** Everything before the recorded patch: its step ran bash. */
	const beforePatch = session.slice(0, session.indexOf(patch));
	const patchOf = (files: string[], messageID?: string) =>
		edit(patch, (p) => {
			const part = p.part as Record<string, unknown>;
			part.files = files;
			if (messageID) part.messageID = messageID;
			return p;
		});

	it("labels reasoning text as reasoning", () => {
		const reasoning = edit(firstText, (p) => {
			(p.part as Record<string, unknown>).type = "reasoning";
			(p.part as Record<string, unknown>).text = "thinking it over";
			return p;
		});
		const { events } = run([...assistantSetup, reasoning]);
		expect(outputs(events)).toEqual([["reasoning", "stdout", "thinking it over"]]);
	});

	it("records workspace files from a patch of a step that ran bash, ignoring paths outside the workspace", () => {
		const { translator: t } = run([
			...beforePatch,
			patchOf([
				"/workspace/src/app.ts",
				"/workspace/out.txt",
				"/etc/passwd",
				"/workspace-other/x.txt",
				"/workspace/out.txt",
			]),
		]);
		expect(t.filesModified).toEqual(["src/app.ts", "out.txt"]);
	});

	it("ignores a patch of a step in which no tool that changes files ran", () => {
		const lastAssistant = partOf(
			session.findLast((e) => e.type === "message.part.updated" && partOf(e).type === "text") as EngineEvent,
		).messageID;
		const { translator: t } = run([
			...session.filter((e) => e !== patch),
			patchOf(["/workspace/other-session.txt"], lastAssistant),
		]);
		expect(t.filesModified).toEqual([]);
	});

	it("records the file a write tool names", () => {
		const write = edit(completedTool, (p) => {
			const part = p.part as Record<string, unknown>;
			part.tool = "write";
			part.state = {
				status: "completed",
				input: { filePath: "/workspace/docs/notes.md", content: "hi" },
				output: "",
				title: "docs/notes.md",
				metadata: {},
			};
			return p;
		});
		const { translator: t, events } = run([...assistantSetup, write]);
		expect(t.filesModified).toEqual(["docs/notes.md"]);
		expect(events.map((e) => e.event)).toEqual(["tool_call", "tool_result"]);
	});

	it("records a workspace file whose name begins with two dots", () => {
		const { translator: t } = run([...beforePatch, patchOf(["/workspace/..env", "/workspace/../escape"])]);
		expect(t.filesModified).toEqual(["..env"]);
	});
});
