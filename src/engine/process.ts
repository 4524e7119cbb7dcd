import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Cancel, Clock } from "../lib/clock";
import { eachLine } from "../lib/lines";
import type { Logger } from "../lib/log";
import { prepareEngineEnvironment, type RebuiltHome } from "./environment";
import { killStaleEngine } from "./stale-engine";

/** A started child process, as much of it as the supervisor uses (Bun's `Subprocess` fits). */
export interface ChildProcess {
	readonly pid: number;
	readonly stdout: ReadableStream<Uint8Array>;
	readonly stderr: ReadableStream<Uint8Array>;
	/** Resolves with the exit code once the process has exited. */
	readonly exited: Promise<number>;
	readonly exitCode: number | null;
	readonly signalCode: string | null;
	kill(signal?: NodeJS.Signals): void;
}

/** Starts a process; injected so tests can start something else than the real engine. */
export type Spawn = (
	cmd: readonly string[],
	options: { readonly cwd: string; readonly env: Record<string, string | undefined> },
) => ChildProcess;

export const bunSpawn: Spawn = (cmd, options) =>
	Bun.spawn([...cmd], {
		cwd: options.cwd,
		env: options.env,
		stdin: "ignore",
		stdout: "pipe",
		stderr: "pipe",
	}) as unknown as ChildProcess;

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

export interface EngineProcessOptions {
	readonly spawn: Spawn;
	readonly cmd: readonly string[];
	readonly cwd: string;
	readonly env: Record<string, string | undefined>;
	readonly clock: Clock;
	/** Every line the process prints (stdout and stderr), for debug logs. */
	readonly onLine: (stream: "stdout" | "stderr", line: string) => void;
}

/**
 * One `opencode serve` process: started, watched for its "listening on" line,
 * and killed (SIGTERM, then SIGKILL when it does not obey: a stopped or
 * wedged process ignores SIGTERM).
 */
export class EngineProcess {
	readonly child: ChildProcess;
	/** The last lines of stderr, for the crash log. */
	readonly tail: string[] = [];
	/** Resolves with the engine's base URL, or undefined if it exits first. */
	readonly listening: Promise<string>;
	readonly exited: Promise<{ code: number | null; signal: string | null }>;
	private killer: Cancel | undefined;

	constructor(private readonly options: EngineProcessOptions) {
		this.child = options.spawn(options.cmd, { cwd: options.cwd, env: options.env });
		const child = this.child;
		this.exited = child.exited.then(
			() => {
				this.killer?.();
				return { code: child.exitCode, signal: child.signalCode };
			},
			() => ({ code: child.exitCode, signal: child.signalCode }),
		);
		this.listening = new Promise((resolve, reject) => {
			let found = false;
			void eachLine(child.stdout, (line) => {
				const m = LISTENING.exec(line);
				if (m?.[1] && !found) {
					found = true;
					resolve(m[1]);
				}
				options.onLine("stdout", line);
			});
			void this.exited.then(() => {
				if (!found) reject(new Error("the engine exited before listening"));
			});
		});
		// Nobody may be waiting any more (a process killed before it listened).
		this.listening.catch(() => {});
		void eachLine(child.stderr, (line) => {
			this.tail.push(line);
			if (this.tail.length > 20) this.tail.shift();
			options.onLine("stderr", line);
		});
	}

	get pid(): number {
		return this.child.pid;
	}

	get running(): boolean {
		return this.child.exitCode === null && this.child.signalCode === null;
	}

	/** SIGTERM now, SIGKILL after `graceMs` unless it has exited; resolves on exit. */
	async terminate(graceMs: number): Promise<void> {
		if (this.running) {
			this.child.kill("SIGTERM");
			this.killer ??= this.options.clock.setTimeout(() => {
				if (this.running) this.child.kill("SIGKILL");
			}, graceMs);
		}
		await this.exited;
	}

	kill(signal: NodeJS.Signals): void {
		if (this.running) this.child.kill(signal);
	}
}

export interface LaunchOptions {
	readonly bin: string;
	/** The adapter's arguments that start a foreground server on loopback (adapter.ts). */
	readonly serveArgs: readonly string[];
	readonly workspaceDir: string;
	/** The engine's own home; `engine.pid` is kept here. */
	readonly engineDir: string;
	/** The engine's configuration (OPENCODE_CONFIG_CONTENT). */
	readonly config: Record<string, unknown>;
	/** Its home and configuration home, rebuilt before each start (default: under `engineDir`). */
	readonly home?: RebuiltHome;
	readonly spawn: Spawn;
	readonly clock: Clock;
	readonly log: Logger;
}

/**
 * Starts `opencode serve` on loopback with a fresh random password: a stale
 * engine left by a killed sidecar is stopped first, and the new pid recorded.
 * Resolves undefined when `wanted()` turns false meanwhile; throws when the
 * process cannot be started.
 */
export async function launchEngine(
	o: LaunchOptions,
	wanted: () => boolean,
): Promise<{ proc: EngineProcess; authorization: string } | undefined> {
	const password = randomBytes(24).toString("base64url");
	const env = prepareEngineEnvironment(o.engineDir, o.config, password, o.home);
	const pidFile = join(o.engineDir, "engine.pid");
	await killStaleEngine(pidFile, o.log, o.clock);
	if (!wanted()) return undefined;
	const proc = new EngineProcess({
		spawn: o.spawn,
		cmd: [o.bin, ...o.serveArgs],
		cwd: o.workspaceDir,
		env,
		clock: o.clock,
		onLine: (stream, line) => o.log.debug({ engine: stream, line }, "engine output"),
	});
	writeFileSync(pidFile, String(proc.pid), { mode: 0o600 });
	return { proc, authorization: `Basic ${Buffer.from(`opencode:${password}`).toString("base64")}` };
}
