import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createOpencodeClient, type OpencodeClient } from "@opencode-ai/sdk/v2/client";
import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import { SseParser } from "../sse/parse";
import type { Engine, PromptInput } from "./engine";
import { prepareEngineEnvironment } from "./environment";
import { type EngineEvent, parseEngineEvent } from "./events";
import { killStaleEngine } from "./stale-engine";
import { WarmUp } from "./warm-up";

export interface EngineSupervisorOptions {
	readonly bin: string;
	readonly workspaceDir: string;
	/** The engine's own home, config, data and cache live under here. */
	readonly engineDir: string;
	/** The engine's configuration (OPENCODE_CONFIG_CONTENT). Holds no session secret. */
	readonly config: Record<string, unknown>;
	readonly startTimeoutMs: number;
	readonly log: Logger;
	readonly clock: Clock;
	/** First restart delay; doubles per failure up to `maxBackoffMs`. */
	readonly backoffMs?: number;
	readonly maxBackoffMs?: number;
}

type Phase = "stopped" | "starting" | "running" | "stopping";

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

/**
 * Runs `opencode serve` on loopback with a random password, keeps its event
 * stream connected, and restarts it with back-off when it dies.
 */
export class EngineSupervisor implements Engine {
	private phase: Phase = "stopped";
	private proc: ReturnType<typeof Bun.spawn> | undefined;
	private client: OpencodeClient | undefined;
	private base: string | undefined;
	private auth: string | undefined;
	private eventsConnected = false;
	private recycleReason: string | undefined;
	/** The current engine process's warm-up (see warm-up.ts); undefined before it connects. */
	private warming: Promise<void> | undefined;
	private readonly warmUp: WarmUp;
	private eventsAbort: AbortController | undefined;
	private failures = 0;
	private cancelRestart: (() => void) | undefined;
	private lastError: string | undefined = "starting";
	private readonly eventListeners = new Set<(events: readonly EngineEvent[]) => void>();
	private readonly lostListeners = new Set<(reason: string) => void>();
	private readonly readyListeners = new Set<() => void>();
	private readyWaiters: (() => void)[] = [];
	/** Engine processes started so far (1 after the first start). */
	starts = 0;

	constructor(private readonly options: EngineSupervisorOptions) {
		this.warmUp = new WarmUp({
			workspaceDir: options.workspaceDir,
			limitMs: options.startTimeoutMs,
			clock: options.clock,
			log: options.log,
		});
	}

	get ready(): boolean {
		return this.phase === "running" && this.eventsConnected;
	}

	get notReadyReason(): string | undefined {
		if (this.ready) return undefined;
		if (this.phase === "running" && !this.eventsConnected) return "engine event stream is not connected";
		return `engine is ${this.phase === "running" ? "starting" : this.phase}${this.lastError ? ` (${this.lastError})` : ""}`;
	}

	/** The engine's process id, for memory readings. */
	get pid(): number | undefined {
		return this.proc?.pid;
	}

	/** Starts the engine in the background; `whenReady` resolves once it is usable. */
	start(): void {
		if (this.phase !== "stopped") return;
		this.phase = "starting";
		void this.launch();
	}

	/** Resolves once the current engine has run its warm-up (at once if it has, or if there is no engine). */
	whenWarm(): Promise<void> {
		return this.warming ?? Promise.resolve();
	}

	whenReady(): Promise<void> {
		if (this.ready) return Promise.resolve();
		return new Promise((resolve) => this.readyWaiters.push(resolve));
	}

	/** Answers the engine's own health check (for `/ready`). */
	async healthy(timeoutMs = 2000): Promise<boolean> {
		if (!this.client || !this.ready) return false;
		try {
			const res = await this.client.global.health({
				signal: AbortSignal.timeout(timeoutMs),
			});
			return res.data?.healthy === true;
		} catch {
			return false;
		}
	}

	private async launch(): Promise<void> {
		const password = randomBytes(24).toString("base64url");
		const env = prepareEngineEnvironment(this.options.engineDir, this.options.config, password);

		const log = this.options.log;
		const pidFile = join(this.options.engineDir, "engine.pid");
		await killStaleEngine(pidFile, log);
		let proc: ReturnType<typeof Bun.spawn>;
		try {
			proc = Bun.spawn([this.options.bin, "serve", "--hostname", "127.0.0.1", "--port", "0"], {
				cwd: this.options.workspaceDir,
				env,
				stdin: "ignore",
				stdout: "pipe",
				stderr: "pipe",
			});
		} catch (error) {
			this.failed(`could not start ${this.options.bin}: ${error instanceof Error ? error.message : String(error)}`);
			return;
		}
		this.proc = proc;
		this.starts++;
		writeFileSync(pidFile, String(proc.pid), { mode: 0o600 });
		const started = this.options.clock.now();
		log.info({ pid: proc.pid, attempt: this.failures + 1 }, "engine starting");

		let url: string | undefined;
		const listening = new Promise<string | undefined>((resolve) => {
			const cancel = this.options.clock.setTimeout(() => resolve(undefined), this.options.startTimeoutMs);
			void pipeLines(proc.stdout as ReadableStream<Uint8Array>, (line) => {
				const m = LISTENING.exec(line);
				if (m && !url) {
					url = m[1];
					cancel();
					resolve(url);
				}
				log.debug({ engine: "stdout", line }, "engine output");
			});
			void proc.exited.then(() => {
				cancel();
				resolve(undefined);
			});
		});
		const tail: string[] = [];
		void pipeLines(proc.stderr as ReadableStream<Uint8Array>, (line) => {
			tail.push(line);
			if (tail.length > 20) tail.shift();
			log.debug({ engine: "stderr", line }, "engine output");
		});
		void proc.exited.then((code) => this.exited(proc, code, tail));

		const base = await listening;
		if (!base || this.proc !== proc) {
			if (this.proc === proc && proc.exitCode === null) proc.kill("SIGKILL");
			if (!base) log.warn({ timeout_ms: this.options.startTimeoutMs }, "engine did not start listening in time");
			return;
		}
		const auth = `Basic ${Buffer.from(`opencode:${password}`).toString("base64")}`;
		this.client = createOpencodeClient({
			baseUrl: base,
			headers: { authorization: auth },
			directory: this.options.workspaceDir,
		});
		this.base = base;
		this.auth = auth;
		this.phase = "running";
		this.lastError = undefined;
		log.info({ pid: proc.pid, start_ms: this.options.clock.now() - started }, "engine listening");
		void this.followEvents(proc, base, auth);
	}

	/**
	 * Keeps `/event` connected for as long as this process lives. Read with
	 * fetch and our own parser rather than the SDK's SSE client: cancelling
	 * that one leaves a rejected `reader.cancel()` promise unhandled, which
	 * ends a Bun process (seen with SDK 1.18.33 on Bun 1.4.5).
	 */
	private async followEvents(proc: ReturnType<typeof Bun.spawn>, base: string, auth: string): Promise<void> {
		const log = this.options.log;
		const url = `${base}/event?directory=${encodeURIComponent(this.options.workspaceDir)}`;
		while (this.proc === proc && this.phase === "running") {
			const abort = new AbortController();
			this.eventsAbort = abort;
			try {
				const res = await fetch(url, {
					headers: { authorization: auth, accept: "text/event-stream" },
					signal: abort.signal,
				});
				if (!res.ok || !res.body) throw new Error(`engine /event answered ${res.status}`);
				const parser = new SseParser();
				const decoder = new TextDecoder();
				for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
					const batch: EngineEvent[] = [];
					for (const frame of parser.push(decoder.decode(chunk, { stream: true }))) {
						const event = parseEngineEvent(frame.data);
						if (event) batch.push(event);
					}
					if (batch.length > 0) this.dispatch(batch);
				}
			} catch (error) {
				if (!abort.signal.aborted) log.warn({ err: String(error) }, "engine event stream failed");
			}
			this.eventsConnected = false;
			if (this.proc !== proc || this.phase !== "running") return;
			log.warn("engine event stream ended; reconnecting");
			await new Promise<void>((r) => this.options.clock.setTimeout(r, 200));
		}
	}

	private dispatch(batch: readonly EngineEvent[]): void {
		const events = batch.filter((event) => {
			if (event.type === "server.connected") this.connected();
			return !this.warmUp.absorb(event);
		});
		if (events.length === 0) return;
		for (const l of this.eventListeners) {
			try {
				l(events);
			} catch (error) {
				this.options.log.error({ err: String(error), events: events.length }, "engine event listener failed");
			}
		}
	}

	private connected(): void {
		this.eventsConnected = true;
		// Once per engine process (the stream may reconnect); runs wait for it, `/ready` does not.
		if (!this.warming && this.client) this.warming = this.warmUp.run(this.client);
		this.becameReady();
	}

	private becameReady(): void {
		this.failures = 0;
		this.options.log.info("engine ready");
		const waiters = this.readyWaiters;
		this.readyWaiters = [];
		for (const w of waiters) w();
		for (const l of this.readyListeners) l();
	}

	private exited(proc: ReturnType<typeof Bun.spawn>, code: number | null, tail: string[]): void {
		if (this.proc !== proc) return;
		this.proc = undefined;
		this.client = undefined;
		this.base = undefined;
		this.auth = undefined;
		this.eventsConnected = false;
		this.warming = undefined;
		this.eventsAbort?.abort();
		if (this.phase === "stopping" || this.phase === "stopped") return;
		const recycled = this.recycleReason;
		this.recycleReason = undefined;
		const reason = recycled ? `engine recycled: ${recycled}` : `engine exited with code ${code ?? "null"}`;
		if (!recycled) this.options.log.error({ code, stderr_tail: tail.slice(-5) }, "engine exited");
		for (const l of this.lostListeners) l(reason);
		this.failed(reason, recycled !== undefined);
	}

	private failed(reason: string, immediately = false): void {
		this.phase = "starting";
		this.lastError = reason;
		const base = this.options.backoffMs ?? 500;
		const delay = immediately ? 0 : Math.min(base * 2 ** this.failures, this.options.maxBackoffMs ?? 30_000);
		if (!immediately) this.failures++;

		this.options.log.info({ delay_ms: delay, failures: this.failures }, "engine restart scheduled");
		this.cancelRestart = this.options.clock.setTimeout(() => {
			this.cancelRestart = undefined;
			if (this.phase === "starting") void this.launch();
		}, delay);
	}

	/** Stops the engine: SIGTERM, then SIGKILL after `graceMs`. */
	async stop(graceMs = 3000): Promise<void> {
		this.phase = "stopping";
		this.cancelRestart?.();
		this.eventsAbort?.abort();
		const proc = this.proc;
		if (proc && proc.exitCode === null) {
			proc.kill("SIGTERM");
			const killer = this.options.clock.setTimeout(() => proc.kill("SIGKILL"), graceMs);
			await proc.exited;
			killer();
		}
		this.proc = undefined;
		this.phase = "stopped";
	}

	/**
	 * Replaces the engine process at once (memory recycling): its runs are
	 * told it was lost, and the new process starts without back-off.
	 */
	recycle(reason: string): void {
		if (!this.proc || this.phase !== "running") return;
		this.recycleReason = reason;
		// Not ready from now on: calls failing while it stops are the recycle, not a refusal.
		this.eventsConnected = false;
		this.options.log.warn({ reason }, "recycling the engine");
		this.proc.kill("SIGTERM");
	}

	/** Kills the engine process as a crash would (for fault tests). */
	kill(signal: NodeJS.Signals = "SIGKILL"): void {
		this.proc?.kill(signal);
	}

	/**
	 * Where the engine listens and how to authenticate, for diagnostics and
	 * benchmarks that need their own view of it; undefined until it listens.
	 */
	connection(): { url: string; authorization: string } | undefined {
		return this.base && this.auth ? { url: this.base, authorization: this.auth } : undefined;
	}

	private api(): OpencodeClient {
		if (!this.client || !this.ready) throw new Error(this.notReadyReason ?? "engine not ready");
		return this.client;
	}

	async createSession(title: string): Promise<string> {
		const res = await this.api().session.create(
			{ title, directory: this.options.workspaceDir },
			{ throwOnError: true },
		);
		return res.data.id;
	}

	async prompt(engineSessionId: string, input: PromptInput): Promise<void> {
		await this.api().session.promptAsync(
			{
				sessionID: engineSessionId,
				directory: this.options.workspaceDir,
				parts: [{ type: "text", text: input.text }],
				model: input.model,
				tools: input.tools,
				...(input.system === undefined ? {} : { system: input.system }),
			},
			{ throwOnError: true },
		);
	}

	async abort(engineSessionId: string): Promise<void> {
		await this.api().session.abort(
			{ sessionID: engineSessionId, directory: this.options.workspaceDir },
			{ throwOnError: true },
		);
	}

	async parentOf(engineSessionId: string): Promise<string | undefined> {
		const res = await this.api().session.get({
			sessionID: engineSessionId,
			directory: this.options.workspaceDir,
		});
		return res.data?.parentID;
	}

	async messages(engineSessionId: string): Promise<unknown[]> {
		const res = await this.api().session.messages(
			{ sessionID: engineSessionId, directory: this.options.workspaceDir },
			{ throwOnError: true },
		);
		return (res.data ?? []) as unknown[];
	}

	async replyPermission(requestId: string, reply: "once" | "always" | "reject", message?: string): Promise<void> {
		await this.api().permission.reply(
			{
				requestID: requestId,
				reply,
				...(message ? { message } : {}),
				directory: this.options.workspaceDir,
			},
			{ throwOnError: true },
		);
	}

	async replyQuestion(requestId: string, answers: string[][]): Promise<void> {
		await this.api().question.reply(
			{ requestID: requestId, answers, directory: this.options.workspaceDir },
			{ throwOnError: true },
		);
	}

	onEvents(listener: (events: readonly EngineEvent[]) => void): () => void {
		this.eventListeners.add(listener);
		return () => this.eventListeners.delete(listener);
	}

	onReady(listener: () => void): () => void {
		this.readyListeners.add(listener);
		return () => this.readyListeners.delete(listener);
	}

	onLost(listener: (reason: string) => void): () => void {
		this.lostListeners.add(listener);
		return () => this.lostListeners.delete(listener);
	}
}

async function pipeLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
	const decoder = new TextDecoder();
	let buffer = "";
	try {
		for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
			buffer += decoder.decode(chunk, { stream: true });
			let nl = buffer.indexOf("\n");
			while (nl !== -1) {
				onLine(buffer.slice(0, nl));
				buffer = buffer.slice(nl + 1);
				nl = buffer.indexOf("\n");
			}
		}
	} catch {
		// The process went away.
	}
	if (buffer) onLine(buffer);
}
