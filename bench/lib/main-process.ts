import { join } from "node:path";
import { BUN, REPO } from "./child";
import { now, sleep } from "./clock";

/** The real server (`bun src/main.ts`), as the pod runs it. */
export interface MainProcess {
	readonly pid: number;
	/** Spawn to the first `/ready` 200, in ms. */
	readonly readyMs: number;
	/** Spawn to the first `/healthz` 200, in ms (polled with `/ready`). */
	readonly healthzMs: number;
	readonly base: string;
	/**
	 * When each log message first appeared (ms after spawn), with any `*_ms`
	 * durations it carried: where the start time went.
	 */
	readonly milestones: Record<string, number>;
	stop(): Promise<void>;
}

const READY_POLL_MS = 5;

/**
 * Spawns `src/main.ts` with `env`, reads the port from its "sidecar
 * listening" log line, then polls `/ready` every 5 ms until it answers 200
 * (so `readyMs` is late by at most one poll).
 */
export async function startMain(env: Record<string, string>, timeoutMs = 60_000): Promise<MainProcess> {
	const started = now();
	const proc = Bun.spawn([BUN, join(REPO, "src/main.ts")], {
		cwd: REPO,
		env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
		stdin: "ignore",
		stdout: "pipe",
		stderr: "pipe",
	});
	const stop = async () => {
		if (proc.exitCode !== null) return;
		proc.kill("SIGTERM");
		const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
		await proc.exited;
		clearTimeout(killer);
	};
	const lines: string[] = [];
	const milestones: Record<string, number> = {};
	let port: number | undefined;
	void (async () => {
		const decoder = new TextDecoder();
		let buffer = "";
		for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
			buffer += decoder.decode(chunk, { stream: true });
			for (let nl = buffer.indexOf("\n"); nl !== -1; nl = buffer.indexOf("\n")) {
				const line = buffer.slice(0, nl);
				buffer = buffer.slice(nl + 1);
				if (lines.push(line) > 50) lines.shift();
				noteMilestone(line, now() - started, milestones);
				if (port === undefined && line.includes('"sidecar listening"'))
					port = Number((JSON.parse(line) as { port: number }).port);
			}
		}
	})().catch(() => {});
	let healthzMs: number | undefined;
	try {
		while (now() - started < timeoutMs && proc.exitCode === null) {
			if (port !== undefined && healthzMs === undefined) {
				const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
				await res?.arrayBuffer();
				if (res?.status === 200) healthzMs = now() - started;
			}
			if (port !== undefined) {
				const res = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
				await res?.arrayBuffer();
				if (res?.status === 200)
					return {
						pid: proc.pid,
						readyMs: now() - started,
						healthzMs: healthzMs ?? now() - started,
						base: `http://127.0.0.1:${port}`,
						milestones,
						stop,
					};
			}
			await sleep(READY_POLL_MS);
		}
	} catch (error) {
		await stop();
		throw error;
	}
	await stop();
	throw new Error(`sidecar not ready within ${timeoutMs} ms:\n${lines.join("\n")}`);
}

function noteMilestone(line: string, at: number, into: Record<string, number>): void {
	let entry: Record<string, unknown>;
	try {
		entry = JSON.parse(line) as Record<string, unknown>;
	} catch {
		return;
	}
	if (typeof entry.msg !== "string" || entry.msg in into) return;
	into[entry.msg] = Math.round(at);
	for (const [k, v] of Object.entries(entry))
		if (k.endsWith("_ms") && typeof v === "number") into[`${entry.msg}: ${k}`] = v;
}
