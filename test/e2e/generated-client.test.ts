import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { useE2eSidecar } from "../support/e2e";

/**
 * The document is usable as it is served: TypeScript clients generated from
 * /swagger/json (openapi-typescript for openapi-fetch; @hey-api/openapi-ts's
 * fetch client, whose stream yields each event's data typed by the document),
 * a driver type-checked by tsc against each, and the driver runs a session
 * through it against the real sidecar and engine.
 */
const e2e = useE2eSidecar();
const REPO = resolve(import.meta.dir, "../..");
// Inside the repository, so the driver resolves openapi-fetch from node_modules (.tmp/ is ignored by git).
const dir = join(REPO, ".tmp", `generated-client-${crypto.randomUUID()}`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DRIVER = `import createClient from "openapi-fetch";
import type { paths } from "./api";

const [base, llm, key] = process.argv.slice(2) as [string, string, string];
const client = createClient<paths>({ baseUrl: base });
const id = crypto.randomUUID();

const created = await client.POST("/sessions", {
	body: {
		session_id: id,
		prompt: "Say hello, then wait.",
		model_config: {
			provider: "openai-compatible",
			model: "qwen2.5-coder",
			api_key: key,
			api_endpoint: llm,
			temperature: 0.2,
			max_tokens: 1024,
			enabled_tools: ["read", "write", "bash", "edit"],
		},
	},
});
if (created.response.status !== 201 || !created.data) throw new Error(\`create: \${created.response.status}\`);
const status: "pending" | "running" | "completed" | "failed" | "cancelled" | "timeout" = created.data.status;

// The stream, until the assistant's text has arrived.
const stream = await client.GET("/sessions/{id}/stream", { params: { path: { id } }, parseAs: "stream" });
if (stream.response.status !== 200 || !stream.data) throw new Error(\`stream: \${stream.response.status}\`);
const reader = stream.data.pipeThrough(new TextDecoderStream()).getReader();
let text = "";
while (!text.includes("event: tool_result")) {
	const { value, done } = await reader.read();
	if (done) break;
	text += value;
}
await reader.cancel();

const polled = await client.GET("/sessions/{id}/status", { params: { path: { id } } });
if (!polled.data) throw new Error(\`status: \${polled.response.status}\`);
const cancelled = await client.DELETE("/sessions/{id}", { params: { path: { id } } });
if (!cancelled.data) throw new Error(\`cancel: \${cancelled.response.status}\`);
const missing = await client.GET("/sessions/{id}/status", { params: { path: { id: crypto.randomUUID() } } });
const code: string | undefined = missing.error?.code;

console.log(JSON.stringify({ created: status, events: text, polled: polled.data.status, cancelled: cancelled.data.status, missing: code }));
`;

/** Creates a session, reads its typed events until the tool's result, then cancels it. */
const HEY_API_DRIVER = `import { client } from "./client.gen";
import { cancelSession, createSession, streamSession } from "./sdk.gen";

const [base, llm, key] = process.argv.slice(2) as [string, string, string];
client.setConfig({ baseUrl: base });
const id = crypto.randomUUID();

const created = await createSession({
	body: {
		session_id: id,
		prompt: "Say hello, then wait.",
		model_config: {
			provider: "openai-compatible",
			model: "qwen2.5-coder",
			api_key: key,
			api_endpoint: llm,
			temperature: 0.2,
			max_tokens: 1024,
			enabled_tools: ["read", "write", "bash", "edit"],
		},
	},
});
if (created.response?.status !== 201 || !created.data) throw new Error(\`create: \${created.response?.status}\`);

// The stream yields each event's data, typed by the document; its SSE event name comes with onSseEvent.
const controller = new AbortController();
const names: string[] = [];
const { stream } = await streamSession({
	path: { id },
	signal: controller.signal,
	onSseEvent: ({ event, data }) => {
		if (event && data) names.push(event);
	},
});
const statuses: ("pending" | "running" | "completed" | "failed" | "cancelled" | "timeout")[] = [];
let text = "";
let tool: string | undefined;
for await (const data of stream) {
	if (!data) continue;
	if ("status" in data) statuses.push(data.status);
	if ("source" in data && data.source === "assistant") text += data.text;
	if ("is_error" in data) {
		tool = data.tool;
		break;
	}
}
controller.abort();
const cancelled = await cancelSession({ path: { id } });
console.log(JSON.stringify({ created: created.data.status, names, statuses, text, tool, cancelled: cancelled.data?.status }));
`;

const run = (cmd: string[], cwd = REPO) => {
	const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
	return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

/** Type-checks `dir` (strict, with Bun's types for the driver's process.argv). */
function typecheck(dir: string, files: string[]) {
	writeFileSync(
		join(dir, "tsconfig.json"),
		JSON.stringify({
			compilerOptions: {
				target: "ES2022",
				module: "ESNext",
				moduleResolution: "Bundler",
				strict: true,
				noEmit: true,
				skipLibCheck: true,
				types: ["bun"],
				typeRoots: [join(REPO, "node_modules/@types")],
			},
			files,
		}),
	);
	return run([join(REPO, "node_modules/.bin/tsc"), "-p", join(dir, "tsconfig.json")]);
}

/** Runs a driver against the sidecar and the scripted LLM; its last line of output is JSON. */
async function drive(dir: string, driver: string, key: string): Promise<Record<string, unknown>> {
	const p = Bun.spawn([join(REPO, "node_modules/.bin/bun"), join(dir, driver), e2e.sidecar.url, e2e.llm.url, key], {
		cwd: dir,
		stdout: "pipe",
		stderr: "pipe",
	});
	const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
	expect({ code, err }).toMatchObject({ code: 0 });
	e2e.bodies.push(out);
	return JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
}

/** A tool call (events on the stream), then a reply that never comes: the run is live until cancelled. */
const liveScript = (prefix: string) =>
	e2e.newKey(prefix, [
		{
			kind: "tool",
			text: "Hello from the scripted model.",
			calls: [{ name: "todowrite", args: { todos: [{ content: "greet", status: "in_progress", priority: "high" }] } }],
		},
		{ kind: "hang" },
	]);

test("a client generated from /swagger/json type-checks and drives a session: create, stream, status, cancel", async () => {
	const out = join(dir, "openapi-fetch");
	mkdirSync(out, { recursive: true });
	const gen = run([
		join(REPO, "node_modules/.bin/openapi-typescript"),
		`${e2e.sidecar.url}/swagger/json`,
		"-o",
		join(out, "api.d.ts"),
	]);
	expect({ code: gen.code, err: gen.err }).toMatchObject({ code: 0 });
	writeFileSync(join(out, "driver.ts"), DRIVER);
	const tsc = typecheck(out, ["driver.ts", "api.d.ts"]);
	expect({ code: tsc.code, out: tsc.out }).toEqual({ code: 0, out: "" });

	const result = await drive(out, "driver.ts", liveScript("sk-generated"));
	expect(result).toMatchObject({
		created: "running",
		polled: "running",
		cancelled: "cancelled",
		missing: "session_not_found",
	});
	expect(result.events).toContain("event: status");
	expect(result.events).toContain("Hello");
});

test("a hey-api fetch client generated from /swagger/json creates a session and reads its events typed", async () => {
	const out = join(dir, "hey-api");
	mkdirSync(out, { recursive: true });
	const gen = run([
		join(REPO, "node_modules/.bin/openapi-ts"),
		"-i",
		`${e2e.sidecar.url}/swagger/json`,
		"-o",
		out,
		"-c",
		"@hey-api/client-fetch",
	]);
	expect({ code: gen.code, err: gen.err }).toMatchObject({ code: 0 });
	writeFileSync(join(out, "driver.ts"), HEY_API_DRIVER);
	// The driver narrows each event by its fields: it compiles only if the events are typed (not unknown).
	const tsc = typecheck(out, ["driver.ts"]);
	expect({ code: tsc.code, out: tsc.out }).toEqual({ code: 0, out: "" });

	const result = await drive(out, "driver.ts", liveScript("sk-hey-api"));
	expect(result).toMatchObject({ created: "running", tool: "todowrite", cancelled: "cancelled" });
	expect(result.statuses).toContain("running");
	expect(result.text).toContain("Hello from the scripted model.");
	// Each payload came with its SSE event name (onSseEvent).
	expect(result.names).toEqual(expect.arrayContaining(["status", "output", "tool_call", "tool_result"]));
});
