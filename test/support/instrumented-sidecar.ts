import { resolve } from "node:path";
import { ConfigError, parseConfig } from "../../src/config/parse";
import type { Cancel, Clock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { createSidecar, type Sidecar } from "../../src/sidecar";
import { engineRelease, withTestEngine } from "./engine-release";

const REPO = resolve(import.meta.dir, "../..");

/**
 * The real clock, counting the timers it holds: what the sidecar schedules
 * through its injected `Clock` (heartbeats, session timeouts, log syncs) and
 * has not yet fired or cancelled.
 */
export class CountingClock implements Clock {
	/** Each live timer: its kind, its delay and where it was scheduled (for a test's failure message). */
	private readonly live = new Map<number, string>();
	private seq = 0;

	now(): number {
		return Date.now();
	}

	setTimeout(fn: () => void, ms: number): Cancel {
		const id = ++this.seq;
		this.live.set(id, `timeout ${ms} ms ${scheduledAt()}`);
		const t = setTimeout(() => {
			this.live.delete(id);
			fn();
		}, ms);
		return () => {
			this.live.delete(id);
			clearTimeout(t);
		};
	}

	setInterval(fn: () => void, ms: number): Cancel {
		const id = ++this.seq;
		this.live.set(id, `interval ${ms} ms ${scheduledAt()}`);
		const t = setInterval(fn, ms);
		return () => {
			this.live.delete(id);
			clearInterval(t);
		};
	}

	/** Timers scheduled and not yet fired (one-shot) or cancelled. */
	get activeTimers(): number {
		return this.live.size;
	}

	/** The live timers, each as its kind, delay and the sidecar code that scheduled it. */
	describeTimers(): string[] {
		return [...this.live.values()];
	}
}

/** The first frame of the sidecar's own code (src/) in the current stack. */
function scheduledAt(): string {
	const frames = (new Error().stack ?? "").split("\n").filter((l) => l.includes("/src/"));
	return frames[0]?.trim() ?? "?";
}

/** A sidecar built in this process, as `startInProcess`, with a counting clock and real listeners. */
export interface Instrumented {
	readonly sidecar: Sidecar;
	readonly clock: CountingClock;
	readonly logLines: string[];
	readonly stateDir: string;
	handle(path: string, init?: RequestInit): Promise<Response>;
	/** Listens on a free loopback port (once), as `src/main.ts` does, and returns it. */
	listen(): number;
	stop(): Promise<void>;
}

export async function startInstrumented(given: Record<string, string>): Promise<Instrumented> {
	const env = withTestEngine(given);
	const config = parseConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env }, REPO);
	const logLines: string[] = [];
	const log = createLogger(config.logLevel, {
		write: (line: string) => void logLines.push(line),
	});
	const clock = new CountingClock();
	const sidecar = createSidecar(config, clock, log, { release: await engineRelease(env) });
	await sidecar.engine.whenReady();
	let listening = false;
	return {
		sidecar,
		clock,
		logLines,
		stateDir: config.stateDir,
		handle: (path, init) => sidecar.app.handle(new Request(`http://localhost${path}`, init)),
		listen() {
			if (!listening) {
				// The server options src/main.ts uses.
				sidecar.app.listen({
					hostname: "127.0.0.1",
					port: 0,
					idleTimeout: config.httpIdleTimeoutSeconds,
					maxRequestBodySize: config.maxBodyBytes + 1024,
				});
				listening = true;
			}
			const port = sidecar.app.server?.port;
			if (!port) throw new Error("the app did not start listening");
			return port;
		},
		async stop() {
			if (listening) await sidecar.app.stop(true);
			await sidecar.stop();
		},
	};
}

/** The smallest STREAM_BUFFER_BYTES the configuration accepts (4096 today). */
export function smallestStreamBuffer(): number {
	try {
		parseConfig(
			{
				WORKSPACE_DIR: "/tmp/w",
				STATE_DIR: "/tmp/s",
				STREAM_BUFFER_BYTES: "1",
			},
			REPO,
		);
	} catch (error) {
		const m = error instanceof ConfigError ? /between (\d+) and/.exec(error.message) : null;
		if (m) return Number(m[1]);
	}
	throw new Error("could not find the smallest STREAM_BUFFER_BYTES");
}
