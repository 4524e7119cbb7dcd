import { join, resolve } from "node:path";
import { eachLine } from "../../src/lib/lines";
import { SHARED_MACHINE_TIMEOUTS } from "./shared-machine";

/** How long a started sidecar may take to say its engine is ready: past one slow engine start (shared-machine.ts), inside the runner's 300 s per test (scripts/run-tests.ts). */
const READY_TIMEOUT_MS = 150_000;

import { withTestEngine } from "./engine-release";

const REPO = resolve(import.meta.dir, "../..");
const BUN = join(REPO, "node_modules/.bin/bun");

/** One JSON log line of the sidecar (anything else is kept as `{raw}`). */
export type LogLine = Record<string, unknown> & { msg?: string; raw?: string };

/** A real sidecar process (`bun src/main.ts`), as the pod runs it. */
export interface SidecarProcess {
	readonly url: string;
	readonly port: number;
	/** The sidecar's process id (`setpriv` execs it, so this is Bun's). */
	readonly pid: number;
	/** Every line it printed on stdout and stderr, raw. */
	readonly output: string[];
	readonly logs: LogLine[];
	waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
	/** SIGTERM and wait for exit; returns the exit code. */
	stop(): Promise<number>;
	kill(signal?: NodeJS.Signals): Promise<number | null>;
	readonly exited: Promise<number>;
}

export interface StartOptions {
	readonly workspace: string;
	readonly state: string;
	readonly env?: Record<string, string>;
	/**
	 * Run the sidecar as this uid and gid, as the image does (uid 10001). When the tests run as root
	 * (CI) the process drops to it with `setpriv` (util-linux); otherwise it runs as the current user.
	 */
	readonly runAs?: { readonly uid: number; readonly gid: number };
	/** Where the sidecar is installed (src/, node_modules/); default: this repository. */
	readonly appDir?: string;
	/** Wait for the engine to be ready (default true). */
	readonly waitReady?: boolean;
	/** How long to wait for it (default 60 s). */
	readonly readyTimeoutMs?: number;
	/**
	 * Run one trivial session through this scripted LLM first: the engine
	 * initialises a project lazily on its first run (~2-4 s), which would eat
	 * into the short SESSION_TIMEOUTs some tests use.
	 */
	readonly warmUpWith?: {
		url: string;
		script(key: string, turns: { kind: "text"; text: string }[]): void;
	};
}

export async function startSidecar(options: StartOptions): Promise<SidecarProcess> {
	const drop =
		options.runAs && process.getuid?.() === 0
			? [
					"setpriv",
					`--reuid=${options.runAs.uid}`,
					`--regid=${options.runAs.gid}`,
					"--clear-groups",
					"--inh-caps=-all",
					"--",
				]
			: [];
	const app = options.appDir ?? REPO;
	const proc = Bun.spawn([...drop, app === REPO ? BUN : join(app, "node_modules/.bin/bun"), "src/main.ts"], {
		cwd: app,
		env: {
			PATH: process.env.PATH ?? "/usr/bin:/bin",
			HOME: process.env.HOME ?? "/root",
			WORKSPACE_DIR: options.workspace,
			STATE_DIR: options.state,
			PORT: "0",
			HOST: "127.0.0.1",
			LOG_LEVEL: "debug",
			// Tests stop sidecars often; the production drain delay only matters where a Service routes traffic.
			SHUTDOWN_DELAY: "0",
			...SHARED_MACHINE_TIMEOUTS,
			// Another app directory (an installed copy) runs its own engine.
			...(options.appDir ? options.env : withTestEngine(options.env ?? {})),
		},
		stdout: "pipe",
		stderr: "pipe",
	});
	const output: string[] = [];
	const logs: LogLine[] = [];
	const waiters: {
		pred: (l: LogLine) => boolean;
		resolve: (l: LogLine) => void;
	}[] = [];
	const onLine = (line: string) => {
		output.push(line);
		let parsed: LogLine;
		try {
			parsed = JSON.parse(line) as LogLine;
		} catch {
			parsed = { raw: line };
		}
		logs.push(parsed);
		for (const w of [...waiters]) {
			if (w.pred(parsed)) {
				waiters.splice(waiters.indexOf(w), 1);
				w.resolve(parsed);
			}
		}
	};
	void eachLine(proc.stdout, onLine);
	void eachLine(proc.stderr, onLine);
	const exited = proc.exited;

	const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> => {
		const found = logs.find(pred);
		if (found) return Promise.resolve(found);
		return new Promise((resolveWait, reject) => {
			const timer = setTimeout(() => {
				reject(
					new Error(
						`no matching sidecar log line within ${timeoutMs} ms; last lines:\n${output.slice(-15).join("\n")}`,
					),
				);
			}, timeoutMs);
			waiters.push({
				pred,
				resolve: (l) => {
					clearTimeout(timer);
					resolveWait(l);
				},
			});
			void exited.then(() => {
				clearTimeout(timer);
				reject(new Error(`sidecar exited; last lines:\n${output.slice(-15).join("\n")}`));
			});
		});
	};

	const listening = await waitForLog((l) => l.msg === "sidecar listening");
	const port = Number(listening.port);
	if (options.waitReady !== false)
		await waitForLog((l) => l.msg === "engine ready", options.readyTimeoutMs ?? READY_TIMEOUT_MS);
	const url = `http://127.0.0.1:${port}`;
	if (options.warmUpWith)
		await warmUp(
			url,
			options.warmUpWith,
			waitForLog,
			options.env?.OPENCODE_SHARED_SECRET,
			options.readyTimeoutMs ?? READY_TIMEOUT_MS,
		);
	return {
		url,
		port,
		pid: proc.pid,
		output,
		logs,
		waitForLog,
		exited,
		async stop() {
			proc.kill("SIGTERM");
			return exited;
		},
		async kill(signal: NodeJS.Signals = "SIGKILL") {
			proc.kill(signal);
			return exited;
		},
	};
}

async function warmUp(
	url: string,
	llm: NonNullable<StartOptions["warmUpWith"]>,
	waitForLog: (pred: (l: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>,
	secret: string | undefined,
	timeoutMs?: number,
): Promise<void> {
	const key = `warm-up-${crypto.randomUUID()}`;
	llm.script(key, [{ kind: "text", text: "warm" }]);
	const id = crypto.randomUUID();
	const res = await fetch(`${url}/sessions`, {
		method: "POST",
		headers: { "content-type": "application/json", ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
		body: JSON.stringify({
			session_id: id,
			prompt: "warm up",
			model_config: {
				provider: "openai-compatible",
				model: "warm-up",
				api_key: key,
				temperature: 0,
				max_tokens: 16,
				enabled_tools: [],
				api_endpoint: llm.url,
			},
		}),
	});
	if (res.status !== 201) throw new Error(`warm-up session refused: ${res.status} ${await res.text()}`);
	await waitForLog((l) => l.msg === "session ended" && l.session_id === id, timeoutMs);
}
