import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import { offeredToolNames, TEST_ENGINE } from "../support/engine-release";
import { questionCall, type RecordedRequest, type Turn } from "../support/scripted-llm";
import { readStream } from "../support/sse-client";

const e2e = useE2eSidecar({ env: { QUESTION_TIMEOUT: "1" } });

/** The contract's own example request list. */
const CONTRACT_EXAMPLE = ["read", "write", "bash", "edit"];

async function start(turns: Turn[], extra: { enabled_tools?: string[]; agent?: string } = {}) {
	const key = e2e.newKey("sk-tools", turns);
	const body = sessionBody({
		prompt: "Do the task.",
		...(extra.agent === undefined ? {} : { agent: extra.agent }),
		model_config: {
			api_key: key,
			api_endpoint: e2e.llm.url,
			enabled_tools: (extra.enabled_tools ?? CONTRACT_EXAMPLE) as never,
		},
	});
	const res = await postSession(e2e.sidecar.url, body);
	const text = await res.text();
	e2e.bodies.push(text);
	expect({ status: res.status, text }).toMatchObject({ status: 201 });
	return { id: body.session_id, key, stream: `${e2e.sidecar.url}/sessions/${body.session_id}/stream` };
}

async function untilTerminal(stream: string) {
	const r = await readStream(stream);
	const events = r.events.filter((e) => e.event !== "heartbeat");
	e2e.seen.push(events);
	return events;
}

/** The tool names the engine offered the LLM in a request (chat-completions format). */
const offered = (r: RecordedRequest | undefined): string[] =>
	((r?.body?.tools ?? []) as { function?: { name?: string } }[]).map((t) => t.function?.name ?? "").sort();

const todos = (states: string[]): Turn => ({
	kind: "tool",
	calls: [
		{
			name: "todowrite",
			args: { todos: states.map((status, i) => ({ content: `step ${i + 1}`, status, priority: "high" })) },
		},
	],
});

const ask = questionCall("Which file name?", "Name", [
	["a.txt", "first (Recommended)"],
	["b.txt", "second"],
]);

describe("enabled_tools as capabilities (the contract's example list)", () => {
	test("the agent gets search, todo and question tools; progress moves and the question reaches the backend", async () => {
		const s = await start([
			todos(["completed", "in_progress", "pending", "pending"]),
			ask,
			todos(["completed", "completed", "completed", "completed"]),
			{ kind: "text", text: "All done." },
		]);
		const events = await untilTerminal(s.stream);
		expect(events.at(-1)).toMatchObject({ event: "complete" });
		const tools = offered(e2e.llm.requests.find((r) => r.key === s.key));
		const on = ["read", "glob", "grep", "edit", "write", "bash", "todowrite", "question"];
		expect(tools).toEqual(expect.arrayContaining(on.flatMap(offeredToolNames)));
		for (const off of ["task", "webfetch", "websearch", "skill"].flatMap(offeredToolNames))
			expect(tools).not.toContain(off);
		const progress = events.filter((e) => e.event === "status" && e.data.progress !== undefined);
		// OpenCode 2.x has no todo tool: it reports no progress (API_CONTRACT.md, Engines).
		expect(progress.map((e) => e.data.progress)).toEqual(TEST_ENGINE === "2" ? [] : [25, 100]);
		expect(events.find((e) => e.event === "question")?.data.questions[0].question).toBe("Which file name?");
		const status = (await (await fetch(`${e2e.sidecar.url}/sessions/${s.id}/status`)).json()) as { progress?: number };
		expect(status.progress).toBe(TEST_ENGINE === "2" ? undefined : 100);
		// No "unavailable tool" went back to the model.
		expect(JSON.stringify(e2e.llm.requests.filter((r) => r.key === s.key).map((r) => r.body))).not.toContain(
			"unavailable tool",
		);
	});

	test("a tool outside the list is refused to the model", async () => {
		const s = await start([
			{ kind: "tool", calls: [{ name: "webfetch", args: { url: "http://127.0.0.1:1/", format: "text" } }] },
			{ kind: "text", text: "Could not fetch." },
		]);
		const events = await untilTerminal(s.stream);
		expect(events.at(-1)).toMatchObject({ event: "complete" });
		const after = e2e.llm.requests.filter((r) => r.key === s.key).at(-1);
		expect(JSON.stringify(after?.body)).toMatch(/unavailable tool 'webfetch'|webfetch.*(not|unavailable)/i);
	});

	test("-todo and -question turn the default tools off; web turns on webfetch and websearch", async () => {
		const s = await start([{ kind: "text", text: "ok" }], { enabled_tools: ["read", "web", "-todo", "-question"] });
		await untilTerminal(s.stream);
		const tools = offered(e2e.llm.requests.find((r) => r.key === s.key));
		expect(tools).toEqual(expect.arrayContaining(["read", "glob", "grep", "webfetch"]));
		for (const off of ["todowrite", "question", "write", "edit", "bash", "task"].flatMap(offeredToolNames))
			expect(tools).not.toContain(off);
	});

	test("task (sub-agents) and unknown names are refused with a 400 naming them", async () => {
		for (const [tools, reason] of [
			[["read", "task"], /task \(sub-agents\) is not offered/],
			[["read", "teleport"], /must be one of: read, edit, write, bash, web/],
		] as const) {
			const body = sessionBody({ model_config: { api_endpoint: e2e.llm.url, enabled_tools: [...tools] as never } });
			const res = await postSession(e2e.sidecar.url, body);
			expect(res.status).toBe(400);
			const env = (await res.json()) as { details: { field: string; reason: string } };
			expect(env.details.field).toStartWith("model_config.enabled_tools");
			expect(env.details.reason).toMatch(reason);
		}
	});
});

describe("choosing the agent", () => {
	test("an unknown agent is a 400 naming the available ones", async () => {
		const body = { ...sessionBody({ model_config: { api_endpoint: e2e.llm.url } }), agent: "architect" };
		const res = await postSession(e2e.sidecar.url, body);
		expect(res.status).toBe(400);
		const env = (await res.json()) as { details: { field: string; reason: string } };
		expect(env.details).toMatchObject({ field: "agent" });
		expect(env.details.reason).toContain("build");
		expect(env.details.reason).toContain("plan");
		expect(env.details.reason).not.toContain("general"); // a sub-agent
	});

	test("plan cannot write files whatever enabled_tools says; the agent is in the status and the engine ran it", async () => {
		const s = await start(
			[
				{ kind: "tool", calls: [{ name: "write", args: { filePath: "plan-wrote.txt", content: "x" } }] },
				{ kind: "tool", calls: [{ name: "bash", args: { command: "echo x > plan-bash.txt", description: "write" } }] },
				{ kind: "text", text: "Could not write." },
			],
			{ agent: "plan", enabled_tools: ["read", "write", "edit", "bash"] },
		);
		const events = await untilTerminal(s.stream);
		expect(events.at(-1)).toMatchObject({ event: "complete" });
		expect(existsSync(join(e2e.dirs.workspace, "plan-wrote.txt"))).toBe(false);
		expect(existsSync(join(e2e.dirs.workspace, "plan-bash.txt"))).toBe(false);
		const tools = offered(e2e.llm.requests.find((r) => r.key === s.key));
		for (const off of ["write", "edit", "apply_patch", "bash"].flatMap(offeredToolNames))
			expect(tools).not.toContain(off);
		expect(tools).toContain("read");
		const status = (await (await fetch(`${e2e.sidecar.url}/sessions/${s.id}/status`)).json()) as { agent: string };
		expect(status.agent).toBe("plan");
	});

	test("a follow-up may name another agent (checked the same way); build then writes", async () => {
		const s = await start([{ kind: "text", text: "Planned." }], { agent: "plan" });
		await untilTerminal(s.stream);
		const follow = (agent: string) =>
			fetch(`${e2e.sidecar.url}/sessions/${s.id}/messages`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ prompt: "Now build it.", agent }),
			});
		const bad = await follow("nobody");
		expect(bad.status).toBe(400);
		expect(((await bad.json()) as { details: { field: string } }).details.field).toBe("agent");
		e2e.llm.script(s.key, [
			{ kind: "tool", calls: [{ name: "write", args: { filePath: "built.txt", content: "built" } }] },
			{ kind: "text", text: "Built." },
		]);
		expect((await follow("build")).status).toBe(202);
		const r = await readStream(s.stream, { until: (_, all) => all.filter((e) => e.event === "complete").length === 2 });
		e2e.seen.push(r.events);
		expect(existsSync(join(e2e.dirs.workspace, "built.txt"))).toBe(true);
		const status = (await (await fetch(`${e2e.sidecar.url}/sessions/${s.id}/status`)).json()) as { agent: string };
		expect(status.agent).toBe("build");
	});
});
