/**
 * Runs the real OpenCode engine against the scripted LLM and records its `/event` stream, one
 * scenario per file, as JSON Lines: every `data:` payload exactly as received, in order.
 *
 *   node_modules/.bin/bun scripts/capture-engine-events.ts [--only name,name] [--out dir] [--keep]
 *
 * Each scenario gets its own engine, git workspace and state directory (HOME and XDG_* point
 * into it), so nothing from the host leaks in and every file starts at `server.connected`.
 * A capture ends at the first `server.heartbeat` after the scenario is over, which also lets
 * late events (the second `session.idle`, `session.diff`) land. The engine runs with the npm
 * registry unreachable, as in a pod. A scenario whose checks fail writes nothing and makes
 * the script exit non-zero.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
	type RecordedRequest,
	type ScriptedLlm,
	startScriptedLlm,
	type Turn,
} from "../test/support/scripted-llm/index";

const REPO = resolve(import.meta.dir, "..");
const ENGINE = join(REPO, "node_modules/opencode-ai/bin/opencode.exe");
const MODEL_ID = "sidecar";
const TIMEOUT_MS = 60_000;
/** The engine sends `server.heartbeat` every 10 s. */
const HEARTBEAT_WAIT_MS = 15_000;

type ProviderID = "openai" | "anthropic" | "scripted";

// ---------------------------------------------------------------------------------------------
// Engine events

interface EngineEvent {
	id?: string;
	type: string;
	// biome-ignore lint/suspicious/noExplicitAny: engine payloads are read field by field.
	properties: any;
}

/** Every event of one `/event` subscription, raw and parsed, with event-driven waits. */
class EventLog {
	readonly raw: string[] = [];
	readonly events: EngineEvent[] = [];
	readonly #waiters = new Set<{
		pred: (e: EngineEvent) => boolean;
		resolve: (e: EngineEvent) => void;
	}>();
	#ended: Error | undefined;
	onEvent: ((e: EngineEvent) => void) | undefined;

	push(data: string): void {
		const event = JSON.parse(data) as EngineEvent;
		this.raw.push(data);
		this.events.push(event);
		this.onEvent?.(event);
		for (const waiter of this.#waiters) {
			if (!waiter.pred(event)) continue;
			this.#waiters.delete(waiter);
			waiter.resolve(event);
		}
	}

	end(error: Error): void {
		this.#ended = error;
	}

	/** The first event from index `from` on that matches. */
	waitFor(what: string, pred: (e: EngineEvent) => boolean, timeoutMs = TIMEOUT_MS, from = 0): Promise<EngineEvent> {
		const existing = this.events.slice(from).find(pred);
		if (existing) return Promise.resolve(existing);
		if (this.#ended) return Promise.reject(new Error(`event stream ended before ${what}: ${this.#ended.message}`));
		return new Promise((resolvePromise, reject) => {
			const waiter = {
				pred,
				resolve: (e: EngineEvent) => {
					clearTimeout(timer);
					resolvePromise(e);
				},
			};
			const timer = setTimeout(() => {
				this.#waiters.delete(waiter);
				reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
			}, timeoutMs);
			this.#waiters.add(waiter);
		});
	}

	ofSession(sessionID: string, type?: string): EngineEvent[] {
		return this.events.filter((e) => sessionOf(e) === sessionID && (type === undefined || e.type === type));
	}
}

function sessionOf(e: EngineEvent): string | undefined {
	return e.properties?.sessionID ?? e.properties?.part?.sessionID ?? e.properties?.info?.sessionID;
}

/** Reads an SSE body into `log`: `data:` lines joined per event, other fields ignored. */
async function readSse(body: ReadableStream<Uint8Array>, log: EventLog): Promise<void> {
	const decoder = new TextDecoder();
	let buffer = "";
	let data: string[] = [];
	try {
		const reader = body.getReader();
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			buffer += decoder.decode(value, { stream: true });
			let newline = buffer.search(/\r\n|\r|\n/);
			while (newline >= 0) {
				const line = buffer.slice(0, newline);
				buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
				if (line === "") {
					if (data.length > 0) log.push(data.join("\n"));
					data = [];
				} else if (line.startsWith("data:")) {
					data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
				}
				newline = buffer.search(/\r\n|\r|\n/);
			}
		}
		log.end(new Error("stream closed"));
	} catch (error) {
		log.end(error instanceof Error ? error : new Error(String(error)));
	}
}

// ---------------------------------------------------------------------------------------------
// Engine process and HTTP API

interface Engine {
	base: string;
	logFile: string;
	api(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response>;
	stop(): Promise<void>;
}

/** The configuration the engine gets through OPENCODE_CONFIG_CONTENT. */
export function engineConfig(llmUrl: string, keys: Record<ProviderID, string>, smallModel: string) {
	const model = {
		name: MODEL_ID,
		tool_call: true,
		limit: { context: 128_000, output: 8_192 },
	};
	return {
		$schema: "https://opencode.ai/config.json",
		autoupdate: false,
		share: "disabled",
		permission: { "*": "allow" },
		// Title generation is avoided by giving every session a title; anything else that wants
		// the small model then shows up at the scripted LLM instead of calling gpt-5.4-nano.
		small_model: smallModel,
		enabled_providers: ["openai", "anthropic", "scripted"],
		provider: {
			openai: {
				options: { baseURL: llmUrl, apiKey: keys.openai },
				models: { [MODEL_ID]: model },
			},
			anthropic: {
				options: { baseURL: llmUrl, apiKey: keys.anthropic },
				models: { [MODEL_ID]: model },
			},
			scripted: {
				npm: "@ai-sdk/openai-compatible",
				name: "Scripted LLM",
				options: { baseURL: llmUrl, apiKey: keys.scripted },
				models: { [MODEL_ID]: model },
			},
		},
	};
}

/** A deliberately small environment: the engine also reads OPENAI_API_KEY & co. from it. */
function engineEnv(stateDir: string, password: string, config: unknown): Record<string, string> {
	return {
		PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
		LANG: process.env.LANG ?? "C.UTF-8",
		SHELL: "/bin/bash",
		HOME: stateDir,
		XDG_CONFIG_HOME: join(stateDir, "config"),
		XDG_DATA_HOME: join(stateDir, "data"),
		XDG_CACHE_HOME: join(stateDir, "cache"),
		XDG_STATE_HOME: join(stateDir, "state"),
		OPENCODE_SERVER_PASSWORD: password,
		OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
		OPENCODE_DISABLE_MODELS_FETCH: "1",
		OPENCODE_DISABLE_AUTOUPDATE: "1",
		OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
		OPENCODE_DISABLE_CLAUDE_CODE: "1",
		OPENCODE_CLIENT: "serve",
		// As in a pod: the engine's background `npm install @opencode-ai/plugin` into its
		// config directory must fail fast instead of reaching the registry.
		npm_config_registry: "http://127.0.0.1:9",
	};
}

async function freePort(): Promise<number> {
	const probe = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		fetch: () => new Response(),
	});
	const port = probe.port as number;
	await probe.stop(true);
	return port;
}

async function startEngine(workspace: string, stateDir: string, config: unknown): Promise<Engine> {
	const port = await freePort();
	const password = crypto.randomUUID();
	const logFile = join(stateDir, "engine.log");
	const child = spawn(
		ENGINE,
		["serve", "--hostname", "127.0.0.1", "--port", String(port), "--print-logs", "--log-level", "INFO"],
		{
			cwd: workspace,
			env: engineEnv(stateDir, password, config),
			stdio: ["ignore", "pipe", "pipe"],
		},
	);
	const log: string[] = [];
	child.stderr.on("data", (chunk: Buffer) => log.push(chunk.toString()));
	const exited = new Promise<void>((done) => child.once("exit", () => done()));
	const flushLog = () => writeFileSync(logFile, log.join(""));

	await new Promise<void>((ready, fail) => {
		let stdout = "";
		const timer = setTimeout(() => fail(new Error(`engine not listening after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
		child.stdout.on("data", (chunk: Buffer) => {
			stdout += chunk.toString();
			if (stdout.includes("opencode server listening on")) {
				clearTimeout(timer);
				ready();
			}
		});
		child.once("exit", (code) => {
			clearTimeout(timer);
			flushLog();
			fail(new Error(`engine exited with ${code} before listening; log in ${logFile}`));
		});
	});

	const base = `http://127.0.0.1:${port}`;
	const authorization = `Basic ${btoa(`opencode:${password}`)}`;
	return {
		base,
		logFile,
		api: (method, path, body, signal) =>
			fetch(`${base}${path}`, {
				method,
				signal,
				headers: {
					authorization,
					...(body === undefined ? {} : { "content-type": "application/json" }),
				},
				body: body === undefined ? undefined : JSON.stringify(body),
			}),
		async stop() {
			child.kill("SIGTERM");
			const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
			await exited;
			clearTimeout(killer);
			flushLog();
		},
	};
}

async function json<T>(response: Promise<Response>, what: string): Promise<T> {
	const r = await response;
	if (!r.ok) throw new Error(`${what} answered ${r.status}: ${await r.text()}`);
	return (await r.json()) as T;
}

// ---------------------------------------------------------------------------------------------
// Workspace

const COMMIT_DATE = "2025-01-01T00:00:00Z";
const GREETING_FILE = "src/greeting.txt";
const GREETING = "Hello, world!\nThis file is edited by the edit-tool scenario.\n";

/** A git clone stand-in: one commit holding a README and the file the edit scenario changes. */
function createWorkspace(dir: string): void {
	mkdirSync(join(dir, "src"), { recursive: true });
	writeFileSync(join(dir, "README.md"), "# Capture workspace\n");
	writeFileSync(join(dir, GREETING_FILE), GREETING);
	const git = (...args: string[]) => {
		const r = spawnSync(
			"git",
			["-c", "user.name=capture", "-c", "user.email=capture@example.invalid", ...args],
			// Fixed dates give the same commit, hence the same engine project id, on every run.
			{
				cwd: dir,
				encoding: "utf8",
				env: {
					...process.env,
					GIT_AUTHOR_DATE: COMMIT_DATE,
					GIT_COMMITTER_DATE: COMMIT_DATE,
				},
			},
		);
		if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`);
	};
	git("init", "-q", "-b", "main");
	git("add", ".");
	git("commit", "-q", "-m", "Initial commit");
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface ScenarioContext {
	engine: Engine;
	log: EventLog;
	llm: ScriptedLlm;
	key: string;
	sessionID: string;
	workspace: string;
}

interface Scenario {
	name: string;
	provider: ProviderID;
	prompt: string;
	turns: Turn[];
	/** LLM requests the scenario makes; any other count means an unexpected extra call. */
	expectedRequests: number;
	/** Runs after the prompt was sent; resolves when the session is over and checked. */
	drive(ctx: ScenarioContext): Promise<void>;
}

function check(condition: unknown, message: string): asserts condition {
	if (!condition) throw new Error(`check failed: ${message}`);
}

const idle = (ctx: ScenarioContext) =>
	ctx.log.waitFor(
		`session.idle of ${ctx.sessionID}`,
		(e) => e.type === "session.idle" && sessionOf(e) === ctx.sessionID,
	);

function toolParts(ctx: ScenarioContext, tool: string) {
	return ctx.log
		.ofSession(ctx.sessionID, "message.part.updated")
		.map((e) => e.properties.part)
		.filter((p) => p.type === "tool" && p.tool === tool);
}

function completedTool(ctx: ScenarioContext, tool: string) {
	const part = toolParts(ctx, tool).find((p) => p.state?.status === "completed");
	check(part, `a completed ${tool} tool part`);
	return part;
}

function noSessionError(ctx: ScenarioContext): void {
	const errors = ctx.log.ofSession(ctx.sessionID, "session.error");
	check(errors.length === 0, `no session.error, got ${JSON.stringify(errors.map((e) => e.properties.error))}`);
}

function finalText(ctx: ScenarioContext, text: string): void {
	const texts = ctx.log
		.ofSession(ctx.sessionID, "message.part.updated")
		.map((e) => e.properties.part)
		.filter((p) => p.type === "text" && p.time?.end !== undefined)
		.map((p) => p.text);
	check(texts.includes(text), `a finished text part "${text}", got ${JSON.stringify(texts)}`);
}

function writeScenario(name: string, provider: ProviderID): Scenario {
	const content = "Hello from the scripted LLM!\n";
	return {
		name,
		provider,
		prompt: "Create notes/hello.txt with a short greeting.",
		turns: [
			{
				kind: "tool",
				text: "I'll create the notes file.",
				calls: [{ name: "write", args: { filePath: "notes/hello.txt", content } }],
			},
			{ kind: "text", text: "Created notes/hello.txt with a greeting." },
		],
		expectedRequests: 2,
		async drive(ctx) {
			await idle(ctx);
			noSessionError(ctx);
			completedTool(ctx, "write");
			finalText(ctx, "Created notes/hello.txt with a greeting.");
			const file = join(ctx.workspace, "notes/hello.txt");
			check(existsSync(file) && readFileSync(file, "utf8") === content, `${file} holds the scripted content`);
		},
	};
}

const SCENARIOS: Scenario[] = [
	writeScenario("openai-responses-write-tool", "openai"),
	writeScenario("anthropic-write-tool", "anthropic"),
	{
		name: "openai-compatible-bash-tool",
		provider: "scripted",
		prompt: "Run a command that prints to stdout and stderr.",
		turns: [
			{
				kind: "tool",
				calls: [
					{
						name: "bash",
						args: {
							command: "echo hi; echo oops 1>&2",
							description: "Print to stdout and stderr",
						},
					},
				],
			},
			{
				kind: "text",
				text: "The command printed hi on stdout and oops on stderr.",
			},
		],
		expectedRequests: 2,
		async drive(ctx) {
			await idle(ctx);
			noSessionError(ctx);
			const part = completedTool(ctx, "bash");
			check(
				/hi/.test(part.state.output) && /oops/.test(part.state.output),
				`bash output has both lines: ${JSON.stringify(part.state.output)}`,
			);
			check(part.state.metadata?.exit === 0, "bash exit code 0");
			finalText(ctx, "The command printed hi on stdout and oops on stderr.");
		},
	},
	{
		name: "abort",
		provider: "openai",
		prompt: "Think about this for a long time.",
		turns: [{ kind: "hang" }],
		expectedRequests: 1,
		async drive(ctx) {
			await ctx.llm.waitForRequest((r) => r.key === ctx.key, TIMEOUT_MS);
			check(
				(await json<boolean>(ctx.engine.api("POST", `/session/${ctx.sessionID}/abort`), "abort")) === true,
				"abort answers true",
			);
			const error = await ctx.log.waitFor(
				"session.error",
				(e) => e.type === "session.error" && sessionOf(e) === ctx.sessionID,
			);
			check(
				error.properties.error?.name === "MessageAbortedError",
				`MessageAbortedError, got ${JSON.stringify(error.properties.error)}`,
			);
			await idle(ctx);
		},
	},
	{
		name: "provider-401",
		provider: "openai",
		prompt: "Say hello.",
		turns: [{ kind: "error", status: 401 }],
		expectedRequests: 1,
		async drive(ctx) {
			const error = await ctx.log.waitFor(
				"session.error",
				(e) => e.type === "session.error" && sessionOf(e) === ctx.sessionID,
			);
			check(error.properties.error?.name === "APIError", `APIError, got ${JSON.stringify(error.properties.error)}`);
			check(error.properties.error?.data?.statusCode === 401, "statusCode 401");
			await idle(ctx);
		},
	},
	{
		name: "provider-429-retry",
		provider: "anthropic",
		prompt: "Say hello.",
		turns: [
			{ kind: "error", status: 429, headers: { "retry-after": "1" } },
			{ kind: "error", status: 429, headers: { "retry-after": "1" } },
			{ kind: "text", text: "Hello after two rate limits." },
		],
		expectedRequests: 3,
		async drive(ctx) {
			await idle(ctx);
			noSessionError(ctx);
			const retries = ctx.log
				.ofSession(ctx.sessionID, "session.status")
				.filter((e) => e.properties.status?.type === "retry");
			check(retries.length >= 2, `at least two retry statuses, got ${retries.length}`);
			finalText(ctx, "Hello after two rate limits.");
		},
	},
	{
		name: "edit-tool",
		provider: "anthropic",
		prompt: `Change the greeting in ${GREETING_FILE} to address the sidecar.`,
		turns: [
			// Not required by the engine (1.18.33 edits unread files), but what models do, and it
			// puts a `read` tool part in the capture too.
			{
				kind: "tool",
				text: "Let me look at the file first.",
				calls: [{ name: "read", args: { filePath: GREETING_FILE } }],
			},
			{
				kind: "tool",
				calls: [
					{
						name: "edit",
						args: {
							filePath: GREETING_FILE,
							oldString: "Hello, world!",
							newString: "Hello, sidecar!",
						},
					},
				],
			},
			{ kind: "text", text: "The greeting now addresses the sidecar." },
		],
		expectedRequests: 3,
		async drive(ctx) {
			await idle(ctx);
			noSessionError(ctx);
			completedTool(ctx, "read");
			completedTool(ctx, "edit");
			finalText(ctx, "The greeting now addresses the sidecar.");
			const now = readFileSync(join(ctx.workspace, GREETING_FILE), "utf8");
			check(
				now === GREETING.replace("Hello, world!", "Hello, sidecar!"),
				`edited file content: ${JSON.stringify(now)}`,
			);
		},
	},
];

// ---------------------------------------------------------------------------------------------
// Running

interface CaptureResult {
	scenario: string;
	sessionID: string;
	events: string[];
	requests: RecordedRequest[];
}

async function capture(scenario: Scenario, llm: ScriptedLlm, keep: boolean): Promise<CaptureResult> {
	// A fixed place, so paths in the capture stay the same from one run to the next.
	const root = join(tmpdir(), "opencode-sidecar-capture", scenario.name);
	rmSync(root, { recursive: true, force: true });
	mkdirSync(root, { recursive: true });
	const workspace = join(root, "workspace");
	const stateDir = join(root, "state");
	mkdirSync(workspace);
	mkdirSync(stateDir);
	createWorkspace(workspace);

	const keys: Record<ProviderID, string> = {
		openai: `${scenario.name}/openai`,
		anthropic: `${scenario.name}/anthropic`,
		scripted: `${scenario.name}/scripted`,
	};
	const key = keys[scenario.provider];
	llm.script(key, scenario.turns);
	const model = `${scenario.provider}/${MODEL_ID}`;
	const engine = await startEngine(workspace, stateDir, engineConfig(llm.url, keys, model));
	let stream: { log: EventLog; close: () => void } | undefined;
	try {
		stream = await subscribe(engine);
		const { log } = stream;
		// Headless runs wait forever on these; with "*": "allow" none should come.
		log.onEvent = (e) => {
			if (e.type === "permission.asked" || e.type === "question.asked")
				console.error(`  ! ${scenario.name}: unexpected ${e.type}: ${JSON.stringify(e.properties)}`);
		};
		const session = await json<{ id: string }>(
			engine.api("POST", "/session", { title: scenario.name }),
			"POST /session",
		);
		const prompt = await engine.api("POST", `/session/${session.id}/prompt_async`, {
			parts: [{ type: "text", text: scenario.prompt }],
			model: { providerID: scenario.provider, modelID: MODEL_ID },
		});
		check(prompt.status === 204, `prompt_async answers 204, got ${prompt.status}`);
		const ctx: ScenarioContext = {
			engine,
			log,
			llm,
			key,
			sessionID: session.id,
			workspace,
		};
		await scenario.drive(ctx);
		const done = log.events.length;
		await log.waitFor("server.heartbeat", (e) => e.type === "server.heartbeat", HEARTBEAT_WAIT_MS, done);

		const requests = llm.requests.filter((r) => Object.values(keys).includes(r.key ?? ""));
		check(
			requests.length === scenario.expectedRequests,
			`${scenario.expectedRequests} LLM requests, got ${requests.length}`,
		);
		check(
			requests.every((r) => r.headers["x-session-id"] === session.id),
			"every LLM request carries x-session-id = engine session id",
		);
		return {
			scenario: scenario.name,
			sessionID: session.id,
			events: [...log.raw],
			requests,
		};
	} catch (error) {
		keep = true;
		console.error(`  engine log: ${engine.logFile}`);
		throw error;
	} finally {
		stream?.close();
		await engine.stop();
		if (!keep) rmSync(root, { recursive: true, force: true });
		else console.log(`  kept ${root}`);
	}
}

async function subscribe(engine: Engine): Promise<{ log: EventLog; close: () => void }> {
	const log = new EventLog();
	const aborter = new AbortController();
	const response = await engine.api("GET", "/event", undefined, aborter.signal);
	if (!response.ok || !response.body) throw new Error(`GET /event answered ${response.status}`);
	void readSse(response.body, log);
	await log.waitFor("server.connected", (e) => e.type === "server.connected");
	return { log, close: () => aborter.abort() };
}

/** Request headers and bodies without the bulky prompt: what the engine sends, per scenario. */
function summarize(result: CaptureResult) {
	const first = result.requests[0]?.at ?? 0;
	return result.requests.map((r) => {
		const { messages, input, system, tools, ...rest } = r.body ?? {};
		const { host: _host, "content-length": _length, ...headers } = r.headers;
		return {
			scenario: result.scenario,
			format: r.format,
			path: r.path,
			msSinceFirstRequest: r.at - first,
			headers,
			body: {
				...rest,
				tools: (tools ?? []).map((t: { name?: string; function?: { name: string } }) => t.name ?? t.function?.name),
				messageCount: (messages ?? input ?? []).length,
				systemType: Array.isArray(system) ? "blocks" : typeof system,
			},
		};
	});
}

function parseArgs(argv: string[]) {
	const args = {
		out: join(REPO, "test/fixtures/engine-events"),
		only: undefined as string[] | undefined,
		keep: false,
	};
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === "--out") args.out = resolve(argv[++i] ?? ".");
		else if (arg === "--only") args.only = (argv[++i] ?? "").split(",");
		else if (arg === "--keep") args.keep = true;
		else throw new Error(`unknown argument ${arg}`);
	}
	return args;
}

async function main(): Promise<void> {
	const args = parseArgs(process.argv.slice(2));
	const selected = SCENARIOS.filter((s) => !args.only || args.only.includes(s.name));
	mkdirSync(args.out, { recursive: true });
	const version = spawnSync(ENGINE, ["--version"], {
		encoding: "utf8",
	}).stdout.trim();
	console.log(`opencode ${version}; writing to ${args.out}`);
	const llm = await startScriptedLlm();
	const summaries: ReturnType<typeof summarize> = [];
	let failed = 0;
	try {
		for (const scenario of selected) {
			const started = Date.now();
			try {
				const result = await capture(scenario, llm, args.keep);
				writeFileSync(join(args.out, `${scenario.name}.jsonl`), `${result.events.join("\n")}\n`);
				summaries.push(...summarize(result));
				console.log(`ok   ${scenario.name}: ${result.events.length} events (${Date.now() - started} ms)`);
			} catch (error) {
				failed += 1;
				console.error(`FAIL ${scenario.name}: ${error instanceof Error ? error.message : String(error)}`);
			}
		}
	} finally {
		await llm.close();
	}
	if (!args.only) writeFileSync(join(args.out, "llm-requests.json"), `${JSON.stringify(summaries, null, "\t")}\n`);
	if (failed > 0) process.exit(1);
}

if (import.meta.main) await main();
