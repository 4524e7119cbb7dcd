import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import { TEST_ENGINE } from "../support/engine-release";
import { questionCall, type Turn } from "../support/scripted-llm";
import { readStream } from "../support/sse-client";

const e2e = useE2eSidecar({ env: { QUESTION_TIMEOUT: "1", HEARTBEAT_INTERVAL: "5" } });

const TOOLS = ["read", "write", "edit", "bash", "question", "todowrite"] as const;

async function start(turns: Turn[], prompt = "Do the task.") {
	const key = e2e.newKey("sk-consumer", turns);
	const body = sessionBody({
		prompt,
		model_config: {
			api_key: key,
			api_endpoint: e2e.llm.url,
			enabled_tools: [...TOOLS],
		},
	});
	const res = await postSession(e2e.sidecar.url, body);
	expect(res.status).toBe(201);
	const id = body.session_id;
	return { id, key, stream: `${e2e.sidecar.url}/sessions/${id}/stream` };
}

const get = async (path: string) => {
	const res = await fetch(`${e2e.sidecar.url}${path}`);
	expect(res.status).toBe(200);
	return (await res.json()) as any;
};

/** Reads the stream until the run's terminal event (a run's stream closes after it). */
async function untilTerminal(stream: string, after = 0) {
	const r = await readStream(stream, {
		headers: { "Last-Event-ID": String(after) },
	});
	const events = r.events.filter((e) => e.event !== "heartbeat");
	e2e.seen.push(events);
	return events;
}

describe("follow-up messages", () => {
	test("after a completed run the session continues with the whole conversation, in the same id sequence", async () => {
		const s = await start(
			[
				{ kind: "text", text: "First answer." },
				{ kind: "text", text: "Second answer." },
			],
			"Remember the word PELICAN.",
		);
		const first = await untilTerminal(s.stream);
		expect(first.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: "First answer." },
		});
		const res = await fetch(`${e2e.sidecar.url}/sessions/${s.id}/messages`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ prompt: "What was the word?" }),
		});
		expect(res.status).toBe(202);
		expect(await res.json()).toMatchObject({
			session_id: s.id,
			status: "running",
			queued: 0,
		});
		const second = await untilTerminal(s.stream, first.length);
		expect(second[0]).toMatchObject({
			id: first.length + 1,
			event: "status",
			data: { status: "running" },
		});
		expect(second.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: "Second answer." },
		});
		// The follow-up's LLM call carried the earlier conversation.
		const calls = e2e.llm.requests.filter((r) => r.key === s.key);
		const last = JSON.stringify(calls.at(-1)?.body);
		expect(last).toContain("PELICAN");
		expect(last).toContain("First answer.");
		expect(last).toContain("What was the word?");
		expect((await get(`/sessions/${s.id}/status`)).status).toBe("completed");
	});

	test("a message sent during a run waits for it, then runs with its own terminal event", async () => {
		const s = await start([
			{
				kind: "text",
				text: "Working slowly on the first task.",
				chunks: 10,
				delayMs: 80,
			},
			{ kind: "text", text: "Follow-up handled." },
		]);
		await e2e.llm.waitForRequest((r) => r.key === s.key, 30_000);
		const res = await fetch(`${e2e.sidecar.url}/sessions/${s.id}/messages`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ prompt: "Also do this." }),
		});
		expect(res.status).toBe(202);
		expect(await res.json()).toMatchObject({ status: "running", queued: 1 });
		const first = await untilTerminal(s.stream);
		expect(first.at(-1)?.data.final_message).toBe("Working slowly on the first task.");
		const second = await untilTerminal(s.stream, first.length);
		expect(second.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: "Follow-up handled." },
		});
		const terminals = [...first, ...second].filter((e) => e.event === "complete");
		expect(terminals.length).toBe(2);
	});

	test("409 on a cancelled session, 404 on an unknown one", async () => {
		const s = await start([{ kind: "hang" }]);
		await fetch(`${e2e.sidecar.url}/sessions/${s.id}`, { method: "DELETE" });
		const post = (id: string) =>
			fetch(`${e2e.sidecar.url}/sessions/${id}/messages`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ prompt: "more" }),
			});
		const refused = await post(s.id);
		expect(refused.status).toBe(409);
		expect(await refused.json()).toMatchObject({
			code: "session_not_continuable",
		});
		expect((await post(crypto.randomUUID())).status).toBe(404);
	});
});

describe("questions", () => {
	const ask = questionCall("Which colour should the banner use?", "Colour", [
		["red", "warm"],
		["blue", "cool (Recommended)"],
	]);

	test("a question is shown as an event and a client's answer reaches the agent", async () => {
		const s = await start([ask, { kind: "text", text: "Using red." }]);
		const r = await readStream(s.stream, {
			until: (e) => e.event === "question",
		});
		const q = r.events.find((e) => e.event === "question");
		expect(q?.data).toMatchObject({
			questions: [
				{
					question: "Which colour should the banner use?",
					options: [{ label: "red" }, { label: "blue" }],
				},
			],
			default: [["blue"]],
		});
		expect(Date.parse(q?.data.expires_at)).toBeGreaterThan(Date.parse(q?.data.timestamp));
		const answer = await fetch(`${e2e.sidecar.url}/sessions/${s.id}/questions/${q?.data.question_id}`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ answers: [["red"]] }),
		});
		expect(answer.status).toBe(200);
		const events = await untilTerminal(s.stream);
		expect(events.at(-1)).toMatchObject({ event: "complete" });
		const result = events.find((e) => e.event === "tool_result" && e.data.tool === "question");
		expect(JSON.stringify(result?.data)).toContain("red");
		// The answer went to the LLM as the tool's result.
		const after = e2e.llm.requests.filter((r) => r.key === s.key).at(-1);
		expect(JSON.stringify(after?.body)).toContain("red");
		// A second answer to the same question is refused.
		const again = await fetch(`${e2e.sidecar.url}/sessions/${s.id}/questions/${q?.data.question_id}`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ answers: [["blue"]] }),
		});
		expect(again.status).toBe(404);
	});

	test("nobody answering within QUESTION_TIMEOUT answers with the recommended option, and says so", async () => {
		const s = await start([ask, { kind: "text", text: "Using the default." }]);
		const events = await untilTerminal(s.stream);
		const note = events.find(
			(e) => e.event === "output" && e.data.source === "sidecar" && e.data.text.includes("QUESTION_TIMEOUT"),
		);
		expect(note?.data.text).toContain("blue");
		expect(events.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: "Using the default." },
		});
	});
});

describe("permissions", () => {
	test("reading outside the workspace is rejected with a reason, shown as an event, and the run completes", async () => {
		const s = await start([
			{
				kind: "tool",
				calls: [{ name: "read", args: { filePath: "/etc/hostname" } }],
			},
			{ kind: "text", text: "I could not read it; continuing." },
		]);
		const events = await untilTerminal(s.stream);
		const permission = events.find((e) => e.event === "permission");
		expect(permission?.data).toMatchObject({
			permission: "external_directory",
			decision: "reject",
		});
		expect(permission?.data.reason).toContain("workspace");
		const result = events.find((e) => e.event === "tool_result" && e.data.tool === "read");
		expect(result?.data.is_error).toBe(true);
		expect(events.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: "I could not read it; continuing." },
		});
	});
});

describe("progress, diff and conversation", () => {
	const todos = (statuses: string[]) => ({
		todos: statuses.map((status, i) => ({
			content: `step ${i + 1}`,
			status,
			priority: "high",
		})),
	});

	test("a todo list drives progress; diff and messages match what the agent did", async () => {
		const s = await start([
			{
				kind: "tool",
				calls: [{ name: "todowrite", args: todos(["in_progress", "pending"]) }],
			},
			{
				kind: "tool",
				calls: [
					{
						name: "write",
						args: { filePath: "docs/plan.md", content: "one\ntwo\n" },
					},
				],
			},
			{
				kind: "tool",
				calls: [{ name: "todowrite", args: todos(["completed", "in_progress"]) }],
			},
			{
				kind: "tool",
				calls: [
					{
						name: "edit",
						args: {
							filePath: "README.md",
							oldString: "# test workspace",
							newString: "# edited workspace",
						},
					},
				],
			},
			{
				kind: "tool",
				calls: [{ name: "todowrite", args: todos(["completed", "completed"]) }],
			},
			{ kind: "text", text: "Both steps done." },
		]);
		const events = await untilTerminal(s.stream);
		const progress = events
			.filter((e) => e.event === "status" && e.data.progress !== undefined)
			.map((e) => e.data.progress);
		// OpenCode 2.x has no todo tool (the calls fail): no progress, no milestones (API_CONTRACT.md, Engines).
		const v2 = TEST_ENGINE === "2";
		expect(progress).toEqual(v2 ? [] : [0, 50, 100]);
		const milestones = events
			.filter((e) => e.event === "output" && e.data.source === "sidecar")
			.map((e) => e.data.text);
		expect(milestones).toEqual(v2 ? [] : ["Done: step 1 (1/2)\n", "Done: step 2 (2/2)\n"]);
		const status = await get(`/sessions/${s.id}/status`);
		expect(status).toMatchObject({ status: "completed", ...(v2 ? {} : { progress: 100 }) });
		if (v2) expect(status.progress).toBeUndefined();
		expect(status.files_modified.sort()).toEqual(["README.md", "docs/plan.md"]);
		expect(readFileSync(join(e2e.dirs.workspace, "README.md"), "utf8")).toContain("# edited workspace");

		const diff = await get(`/sessions/${s.id}/diff`);

		const byPath = Object.fromEntries(diff.files.map((f: any) => [f.path, f]));
		expect(byPath["docs/plan.md"]).toMatchObject({
			status: "added",
			additions: 2,
			deletions: 0,
		});
		expect(byPath["docs/plan.md"].diff).toContain("+one");
		expect(byPath["README.md"]).toMatchObject({
			status: "modified",
			additions: 1,
			deletions: 1,
		});
		expect(byPath["README.md"].diff).toContain("+# edited workspace");

		const conversation = await get(`/sessions/${s.id}/messages`);
		const roles = conversation.messages.map((m: any) => m.role);
		expect(roles[0]).toBe("user");
		expect(conversation.messages[0].text).toContain("Do the task.");
		const calls = conversation.messages.flatMap((m: any) => m.tool_calls.map((c: any) => c.tool));
		expect(calls).toEqual(["todowrite", "write", "todowrite", "edit", "todowrite"]);
		expect(conversation.messages.at(-1).text).toBe("Both steps done.");
	});
});

describe("inspection and metrics", () => {
	test("GET /sessions lists sessions newest first and filters by status", async () => {
		const all = (await get("/sessions")).sessions;
		expect(all.length).toBeGreaterThan(3);
		const created = all.map((s: any) => s.created_at);
		expect(created).toEqual([...created].sort().reverse());
		const cancelled = (await get("/sessions?status=cancelled")).sessions;
		expect(cancelled.length).toBeGreaterThan(0);
		for (const s of cancelled) expect(s.status).toBe("cancelled");
		const bad = await fetch(`${e2e.sidecar.url}/sessions?status=sideways`);
		expect(bad.status).toBe(400);
	});

	test("metrics change as sessions run, with no secret or content in them", async () => {
		const scrape = async () => {
			const res = await fetch(`${e2e.sidecar.url}/metrics`);
			expect(res.status).toBe(200);
			expect(res.headers.get("content-type")).toContain("text/plain");
			return res.text();
		};
		const value = (text: string, name: string) => {
			const line = text.split("\n").find((l) => l.startsWith(name));
			return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
		};
		const before = await scrape();
		const s = await start([{ kind: "text", text: "metrics please" }]);
		await untilTerminal(s.stream);
		const after = await scrape();
		expect(value(after, 'opencode_sidecar_events_stored_total{event="complete"}')).toBe(
			value(before, 'opencode_sidecar_events_stored_total{event="complete"}') + 1,
		);
		expect(
			value(after, 'opencode_sidecar_llm_calls_total{provider="openai-compatible",outcome="2xx"}'),
		).toBeGreaterThan(value(before, 'opencode_sidecar_llm_calls_total{provider="openai-compatible",outcome="2xx"}'));
		expect(
			value(after, 'opencode_sidecar_llm_tokens_total{provider="openai-compatible",kind="output"}'),
		).toBeGreaterThan(value(before, 'opencode_sidecar_llm_tokens_total{provider="openai-compatible",kind="output"}'));
		expect(value(after, 'opencode_sidecar_sessions{status="completed"}')).toBe(
			value(before, 'opencode_sidecar_sessions{status="completed"}') + 1,
		);
		expect(value(after, "opencode_sidecar_engine_rss_bytes")).toBeGreaterThan(50_000_000);
		expect(value(after, "opencode_sidecar_events_replayed_total")).toBeGreaterThan(0);
		for (const k of e2e.keys) expect(after).not.toContain(k);
		expect(after).not.toContain("metrics please");
	});

	test("a session on the real engine moves the run-duration and first-output histograms; process series are scraped", async () => {
		const scrape = async () => (await fetch(`${e2e.sidecar.url}/metrics`)).text();
		const value = (text: string, name: string) => {
			const line = text.split("\n").find((l) => l.startsWith(`${name} `));
			return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
		};
		const run = 'opencode_sidecar_run_duration_seconds_count{provider="openai-compatible",status="completed"}';
		const runSum = 'opencode_sidecar_run_duration_seconds_sum{provider="openai-compatible",status="completed"}';
		const first = 'opencode_sidecar_first_output_seconds_count{provider="openai-compatible"}';
		const firstSum = 'opencode_sidecar_first_output_seconds_sum{provider="openai-compatible"}';
		const before = await scrape();
		const t0 = performance.now();
		const s = await start([{ kind: "text", text: "timed answer" }]);
		await untilTerminal(s.stream);
		const elapsed = (performance.now() - t0) / 1000;
		const after = await scrape();
		expect(value(after, run)).toBe(value(before, run) + 1);
		expect(value(after, first)).toBe(value(before, first) + 1);
		const ran = value(after, runSum) - value(before, runSum);
		const waited = value(after, firstSum) - value(before, firstSum);
		expect(ran).toBeGreaterThan(0);
		expect(ran).toBeLessThanOrEqual(elapsed + 0.01);
		expect(waited).toBeGreaterThan(0);
		expect(waited).toBeLessThanOrEqual(ran + 0.01);
		expect(value(after, "process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
		expect(value(after, "process_cpu_seconds_total")).toBeGreaterThan(0);
		expect(value(after, "process_open_fds")).toBeGreaterThan(3);
	});
});
