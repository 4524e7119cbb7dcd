import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type EngineEvent, engineSessionOf, parseEngineEvent } from "../../src/engine/events";
import type { RunOutcome } from "../../src/engine/translate";
import type { LoggedEvent } from "../../src/events/catalogue";
import { FollowedRun } from "./followed-run";

/** Our own captures of the real engine (scripts/capture-engine-events.ts). */
const DIR = join(import.meta.dir, "../fixtures/engine-events");
const NOW = Date.parse("2026-11-21T10:00:00.000Z");

function replay(name: string) {
	const events = readFileSync(join(DIR, `${name}.jsonl`), "utf8")
		.split("\n")
		.filter((l) => l.trim() !== "")
		.map((l) => parseEngineEvent(l) as EngineEvent);
	const workspace = `/tmp/opencode-sidecar-capture/${name.replace(/\.jsonl$/, "")}/workspace`;
	const session = events.map(engineSessionOf).find((id) => id !== undefined);
	const t = new FollowedRun({ workspaceDir: workspace, redact: (s) => s });
	const out: LoggedEvent[] = [];
	const outcomes: RunOutcome[] = [];
	let begun = false;
	for (const e of events) {
		if (engineSessionOf(e) !== session) continue;
		// The prompt is sent right after the session is created: the run starts there.
		if (!begun && e.type === "message.updated") {
			t.beginRun();
			begun = true;
		}
		const r = t.follow(e, NOW);
		out.push(...r.events);
		if (r.outcome) outcomes.push(r.outcome);
	}
	return { t, events: out, outcomes, kinds: out.map((e) => e.event) };
}

describe("translation of captured engine runs", () => {
	for (const [name, file] of [
		["openai-responses-write-tool", "notes/hello.txt"],
		["anthropic-write-tool", "notes/hello.txt"],
	] as const) {
		test(`${name}: text, one write call with its result, completed once, the file listed`, () => {
			const r = replay(name);
			expect(r.outcomes).toEqual([{ status: "completed" }]);
			expect(r.kinds.filter((k) => k === "tool_call")).toEqual(["tool_call"]);
			const call = r.events.find((e) => e.event === "tool_call");
			expect(call?.data).toMatchObject({ tool: "write", args: { filePath: expect.stringContaining("hello.txt") } });
			expect(r.kinds.indexOf("tool_result")).toBeGreaterThan(r.kinds.indexOf("tool_call"));
			expect(r.events.some((e) => e.event === "output" && e.data.source === "assistant")).toBe(true);
			expect(r.t.filesModified).toEqual([file]);
			expect(r.t.finalMessage.length).toBeGreaterThan(0);
			expect(r.t.usage.input_tokens).toBeGreaterThan(0);
		});
	}

	test("openai-compatible-bash-tool: live bash output (stdout and stderr merged) then the result", () => {
		const r = replay("openai-compatible-bash-tool");
		expect(r.outcomes).toEqual([{ status: "completed" }]);
		const live = r.events
			.filter((e) => e.event === "output" && e.data.source === "tool")
			.map((e) => e.data as { text: string });
		expect(live.map((l) => l.text).join("")).toContain("hi");
		const result = r.events.find((e) => e.event === "tool_result");
		expect(result?.data).toMatchObject({ tool: "bash", is_error: false });
		expect(JSON.stringify(result?.data)).toContain("oops");
	});

	test("edit-tool: read then edit of a committed file, listed as modified", () => {
		const r = replay("edit-tool");
		expect(r.outcomes).toEqual([{ status: "completed" }]);
		const tools = r.events.filter((e) => e.event === "tool_call").map((e) => (e.data as { tool: string }).tool);
		expect(tools).toEqual(["read", "edit"]);
		expect(r.t.filesModified).toEqual(["src/greeting.txt"]);
	});

	test("abort: reported as aborted once, although the engine goes idle twice", () => {
		const r = replay("abort");
		expect(r.outcomes).toEqual([{ status: "aborted" }]);
	});

	test("provider-401: a fatal provider_auth failure, once", () => {
		const r = replay("provider-401");
		expect(r.outcomes.length).toBe(1);
		expect(r.outcomes[0]).toMatchObject({ status: "failed", code: "provider_auth" });
	});

	test("provider-429-retry: non-fatal rate-limit errors with retry_after, then completed", () => {
		const r = replay("provider-429-retry");
		const retries = r.events.filter((e) => e.event === "error");
		expect(retries.length).toBe(2);
		for (const e of retries) expect(e.data).toMatchObject({ fatal: false, code: "provider_rate_limited" });
		expect(r.outcomes).toEqual([{ status: "completed" }]);
	});
});
