import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import { offeredToolNames, TEST_ENGINE } from "../support/engine-release";
import { followWithEventSource, type Received } from "../support/sse-client";

// No short timeouts here, so the first session may pay for the engine's lazy project set-up.
const e2e = useE2eSidecar({ warmUp: false });

const PROVIDERS = [
	{
		provider: "openai",
		model: "gpt-4o-mini",
		format: "responses",
		maxField: "max_output_tokens",
	},
	{
		provider: "anthropic",
		model: "claude-sonnet-4-5",
		format: "anthropic",
		maxField: "max_tokens",
	},
	{
		provider: "openai-compatible",
		model: "qwen2.5-coder-32b",
		format: "chat",
		maxField: "max_tokens",
	},
] as const;

async function runWriteSession(p: (typeof PROVIDERS)[number], file: string, delayMs = 0) {
	const key = e2e.newKey(`sk-${p.provider}`, [
		{
			kind: "tool",
			text: `Writing ${file}.`,
			calls: [
				{
					name: "write",
					args: { filePath: file, content: `made by ${p.provider}\n` },
				},
			],
			delayMs,
		},
		{ kind: "text", text: `Wrote ${file} for you.`, delayMs },
	]);
	const body = sessionBody({
		prompt: `Create ${file}`,
		model_config: {
			provider: p.provider,
			model: p.model,
			api_key: key,
			api_endpoint: e2e.llm.url,
			temperature: 0.35,
			max_tokens: 1500,
		},
	});
	const res = await postSession(e2e.sidecar.url, body);
	const created = await res.text();
	e2e.bodies.push(created);
	expect(res.status).toBe(201);
	expect(JSON.parse(created)).toMatchObject({
		session_id: body.session_id,
		status: "running",
		provider: p.provider,
		model: p.model,
	});
	return {
		key,
		body,
		events: followWithEventSource(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`),
	};
}

function expectWellFormedRun(events: Received[], file: string) {
	// Ids are 1..N with no gap; heartbeats carry none.
	const ids = events.filter((e) => e.event !== "heartbeat").map((e) => e.id);
	expect(ids).toEqual(ids.map((_, i) => i + 1));
	expect(events[0]).toMatchObject({
		event: "status",
		data: { status: "running" },
	});
	const call = events.find((e) => e.event === "tool_call");
	expect(call?.data).toMatchObject({ tool: "write", args: { filePath: file } });
	const result = events.find((e) => e.event === "tool_result");
	expect(result?.data).toMatchObject({
		tool: "write",
		call_id: call?.data.call_id,
		is_error: false,
	});
	expect(events.some((e) => e.event === "output" && e.data.source === "assistant")).toBe(true);
	const [status, complete] = events.slice(-2);
	expect(status).toMatchObject({
		event: "status",
		data: { status: "completed" },
	});
	expect(complete?.event).toBe("complete");
	expect(complete?.data.files_modified).toEqual([file]);
	expect(complete?.data.final_message).toBe(`Wrote ${file} for you.`);
	for (const e of events) if (e.event !== "heartbeat") expect(Date.parse(e.data.timestamp)).toBeGreaterThan(0);
}

describe("a tool-using session per provider", () => {
	for (const p of PROVIDERS) {
		test(`${p.provider}: the agent writes a file and the run ends with complete listing it`, async () => {
			const file = `out/${p.provider}.txt`;
			const run = await runWriteSession(p, file);
			const events = await run.events;
			e2e.seen.push(events);
			expectWellFormedRun(events, file);
			expect(readFileSync(join(e2e.dirs.workspace, file), "utf8")).toBe(`made by ${p.provider}\n`);

			// Every call reached the provider's own API with the session's key and parameters.
			const calls = e2e.llm.requests.filter((r) => r.key === run.key);
			expect(calls.length).toBeGreaterThanOrEqual(2);
			for (const c of calls) {
				expect(c.format).toBe(p.format);
				expect(c.body.model).toBe(p.model);
				expect(c.body.temperature).toBe(0.35);
				// 2.x asks chat-completions providers with max_completion_tokens, which the gateway keeps (the newer field).
				const max = TEST_ENGINE === "2" && p.format === "chat" ? "max_completion_tokens" : p.maxField;
				expect(c.body[max]).toBe(1500);
				if (p.format === "anthropic") expect(c.headers["x-api-key"]).toBe(run.key);
				else expect(c.headers.authorization).toBe(`Bearer ${run.key}`);
				// The engine's own session id and the gateway token stay inside the pod.
				expect(c.headers["x-session-id"]).toBeUndefined();
			}
			// Only the enabled tools were offered.
			const offered = JSON.stringify(calls[0]?.body.tools ?? []);
			for (const t of ["read", "write", "edit", "bash"].flatMap(offeredToolNames)) expect(offered).toContain(`"${t}"`);
			expect(offered).not.toContain('"webfetch"');

			const status = await fetch(`${e2e.sidecar.url}/sessions/${run.body.session_id}/status`);
			const text = await status.text();
			e2e.bodies.push(text);
			expect(JSON.parse(text)).toMatchObject({
				status: "completed",
				files_modified: [file],
				last_event_id: events.filter((e) => e.event !== "heartbeat").length,
			});
		});
	}
});

test("two sessions with different keys run at once, each sending only its own key upstream", async () => {
	const a = await runWriteSession(PROVIDERS[0], "concurrent/a.txt", 40);
	const b = await runWriteSession(PROVIDERS[2], "concurrent/b.txt", 40);
	// Both are running at the same moment.
	const [sa, sb] = await Promise.all(
		[a, b].map(
			async (r) =>
				(await (await fetch(`${e2e.sidecar.url}/sessions/${r.body.session_id}/status`)).json()) as { status: string },
		),
	);
	expect([sa?.status, sb?.status]).toEqual(["running", "running"]);
	const [ea, eb] = await Promise.all([a.events, b.events]);
	e2e.seen.push(ea, eb);
	expectWellFormedRun(ea, "concurrent/a.txt");
	expectWellFormedRun(eb, "concurrent/b.txt");
	const callsA = e2e.llm.requests.filter((r) => r.key === a.key);
	const callsB = e2e.llm.requests.filter((r) => r.key === b.key);
	expect(callsA.every((c) => c.format === "responses")).toBe(true);
	expect(callsB.every((c) => c.format === "chat")).toBe(true);
	// Their calls overlapped in time: one engine served both.
	const endA = Math.max(...callsA.map((c) => c.at));
	const startB = Math.min(...callsB.map((c) => c.at));
	expect(startB).toBeLessThan(endA);
	expect(existsSync(join(e2e.dirs.workspace, "concurrent/a.txt"))).toBe(true);
	expect(existsSync(join(e2e.dirs.workspace, "concurrent/b.txt"))).toBe(true);
});

test("the engine offers exactly the tools the sidecar validates against", async () => {
	const { ENGINE_TOOLS, NEVER_ON } = await import("../../src/engine/tools");
	const { V2_TOOLS } = await import("../../src/engine/v2/tool-names");
	// A session with every tool enabled offers them all (bar those the engine hides in server mode, and task).
	const key = e2e.newKey("sk-tools", [{ kind: "text", text: "Nothing to do." }]);
	const body = sessionBody({
		model_config: {
			api_key: key,
			api_endpoint: e2e.llm.url,
			enabled_tools: ENGINE_TOOLS.filter((t) => !NEVER_ON.includes(t)),
		},
	});
	expect((await postSession(e2e.sidecar.url, body)).status).toBe(201);
	const events = await followWithEventSource(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`);
	e2e.seen.push(events);
	const call = e2e.llm.requests.find((r) => r.key === key);
	const offered: string[] = (call?.body.tools ?? []).map((t: { function?: { name: string } }) => t.function?.name);
	const known: readonly string[] = TEST_ENGINE === "2" ? V2_TOOLS : ENGINE_TOOLS;
	for (const name of offered) expect(known).toContain(name);
	for (const name of [...offeredToolNames("bash"), "write"]) expect(offered).toContain(name);
});

test("system_prompt reaches the provider in that session's calls only", async () => {
	const key = e2e.newKey("sk-system", [{ kind: "text", text: "Understood." }]);
	const marker = `Always answer like a pirate ${crypto.randomUUID()}`;
	const body = sessionBody({
		system_prompt: marker,
		model_config: {
			provider: "anthropic",
			api_key: key,
			api_endpoint: e2e.llm.url,
		},
	});
	expect((await postSession(e2e.sidecar.url, body)).status).toBe(201);
	e2e.seen.push(await followWithEventSource(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`));
	const call = e2e.llm.requests.find((r) => r.key === key);
	expect(JSON.stringify(call?.body.system)).toContain(marker);
	const others = e2e.llm.requests.filter((r) => r.key !== key);
	expect(others.some((r) => JSON.stringify(r.body).includes(marker))).toBe(false);
});

test("a reasoning model gets no temperature, and the stream says so once", async () => {
	const key = e2e.newKey("sk-reasoning", [
		{
			kind: "tool",
			calls: [{ name: "read", args: { filePath: "README.md" } }],
		},
		{ kind: "text", text: "Read it." },
	]);
	const body = sessionBody({
		model_config: {
			provider: "openai",
			model: "gpt-5-mini",
			api_key: key,
			api_endpoint: e2e.llm.url,
			temperature: 0.9,
		},
	});
	expect((await postSession(e2e.sidecar.url, body)).status).toBe(201);
	const events = await followWithEventSource(`${e2e.sidecar.url}/sessions/${body.session_id}/stream`);
	e2e.seen.push(events);
	const calls = e2e.llm.requests.filter((r) => r.key === key);
	expect(calls.length).toBeGreaterThanOrEqual(2);
	for (const c of calls) {
		expect(c.body.model).toBe("gpt-5-mini");
		expect("temperature" in c.body).toBe(false);
	}
	const notices = events.filter((e) => e.event === "error" && e.data.code === "parameter_ignored");
	expect(notices.length).toBe(1);
	expect(notices[0]?.data).toMatchObject({ fatal: false });
	expect(notices[0]?.data.error).toContain("temperature");
	expect(events.at(-1)?.event).toBe("complete");
});
