import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { useE2eSidecar } from "../support/e2e";

/**
 * The document is usable as it is served: a TypeScript client generated from
 * /swagger/json (openapi-typescript), a driver type-checked by tsc against it,
 * and the driver runs a whole session through openapi-fetch against the real
 * sidecar and engine.
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

const run = (cmd: string[], cwd = REPO) => {
	const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
	return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

test("a client generated from /swagger/json type-checks and drives a session: create, stream, status, cancel", async () => {
	mkdirSync(dir, { recursive: true });
	const docUrl = `${e2e.sidecar.url}/swagger/json`;
	const gen = run([
		join(REPO, "node_modules/.bin/openapi-typescript"),
		docUrl,
		// Why: see the file (its bundled validator predates OpenAPI 3.2's itemSchema).
		"--redocly",
		join(REPO, "test/fixtures/openapi-typescript-redocly.yaml"),
		"-o",
		join(dir, "api.d.ts"),
	]);
	expect({ code: gen.code, err: gen.err }).toMatchObject({ code: 0 });
	writeFileSync(join(dir, "driver.ts"), DRIVER);
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
			files: ["driver.ts", "api.d.ts"],
		}),
	);
	const tsc = run([join(REPO, "node_modules/.bin/tsc"), "-p", join(dir, "tsconfig.json")]);
	expect({ code: tsc.code, out: tsc.out }).toEqual({ code: 0, out: "" });

	// A tool call (events on the stream), then a reply that never comes: the run is live until cancelled.
	const key = e2e.newKey("sk-generated", [
		{
			kind: "tool",
			text: "Hello from the scripted model.",
			calls: [{ name: "todowrite", args: { todos: [{ content: "greet", status: "in_progress", priority: "high" }] } }],
		},
		{ kind: "hang" },
	]);
	const drive = Bun.spawn(
		[join(REPO, "node_modules/.bin/bun"), join(dir, "driver.ts"), e2e.sidecar.url, e2e.llm.url, key],
		{
			cwd: dir,
			stdout: "pipe",
			stderr: "pipe",
		},
	);
	const [out, err, code] = await Promise.all([
		new Response(drive.stdout).text(),
		new Response(drive.stderr).text(),
		drive.exited,
	]);
	expect({ code, err }).toMatchObject({ code: 0 });
	e2e.bodies.push(out);
	const result = JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
	expect(result).toMatchObject({
		created: "running",
		polled: "running",
		cancelled: "cancelled",
		missing: "session_not_found",
	});
	expect(result.events).toContain("event: status");
	expect(result.events).toContain("Hello");
});
