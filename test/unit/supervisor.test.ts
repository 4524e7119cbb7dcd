import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RecycleCause } from "../../src/engine/lifecycle";
import type { ChildProcess, Spawn } from "../../src/engine/process";
import { EngineSupervisor } from "../../src/engine/supervisor";
import { createLogger } from "../../src/lib/log";
import { ManualClock } from "../support/manual-clock";

// The supervisor with an injected process launcher and clock: no engine, no waiting.

/** A pid no process can have (above any pid_max), so the stale-engine check never signals anything. */
const NO_PID = 2 ** 31 - 1;

class FakeChild implements ChildProcess {
	readonly pid = NO_PID;
	exitCode: number | null = null;
	signalCode: string | null = null;
	readonly signals: string[] = [];
	private out: ReadableStreamDefaultController<Uint8Array> | undefined;
	readonly stdout = new ReadableStream<Uint8Array>({
		start: (c) => {
			this.out = c;
		},
	});
	readonly stderr = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
	private resolveExit: (code: number) => void = () => {};
	readonly exited = new Promise<number>((r) => {
		this.resolveExit = r;
	});

	print(line: string): void {
		this.out?.enqueue(new TextEncoder().encode(`${line}\n`));
	}

	exit(code: number | null, signal: string | null = null): void {
		if (this.exitCode !== null || this.signalCode !== null) return;
		this.exitCode = code;
		this.signalCode = signal;
		this.out?.close();
		this.resolveExit(code ?? 128);
	}

	kill(signal: NodeJS.Signals = "SIGTERM"): void {
		this.signals.push(signal);
		this.exit(null, signal);
	}
}

const dir = mkdtempSync(join(tmpdir(), "supervisor-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const flush = () => new Promise<void>((r) => setImmediate(r));

describe("the engine supervisor (injected spawn and clock)", () => {
	test("an engine that never listens is recycled as start_timeout, restarted after the back-off; a crash tells the runs", async () => {
		writeFileSync(join(dir, "engine.pid"), String(NO_PID));
		const clock = new ManualClock();
		const children: FakeChild[] = [];
		const calls: { cmd: readonly string[]; cwd: string }[] = [];
		const spawn: Spawn = (cmd, options) => {
			calls.push({ cmd, cwd: options.cwd });
			const child = new FakeChild();
			children.push(child);
			return child;
		};
		const lines: string[] = [];
		const recycles: RecycleCause[] = [];
		const supervisor = new EngineSupervisor({
			release: { version: "1.18.33", generation: "1" },
			bin: "/opt/opencode",
			workspaceDir: "/workspace",
			engineDir: dir,
			config: {},
			startTimeoutMs: 30_000,
			log: createLogger("debug", { write: (l: string) => void lines.push(l) }),
			clock,
			spawn,
			onRecycle: (cause) => recycles.push(cause),
		});
		const lost: string[] = [];
		supervisor.onLost((reason) => lost.push(reason));

		supervisor.start();
		await flush();
		expect(calls).toEqual([
			{ cmd: ["/opt/opencode", "serve", "--hostname", "127.0.0.1", "--port", "0"], cwd: "/workspace" },
		]);
		expect(supervisor.phase).toBe("starting");

		clock.advance(30_000);
		await flush();
		expect(children[0]?.signals).toEqual(["SIGTERM"]);
		expect(recycles).toEqual(["start_timeout"]);
		expect(supervisor.phase).toBe("lost");
		expect(supervisor.ready).toBe(false);

		clock.advance(499);
		await flush();
		expect(calls).toHaveLength(1);
		clock.advance(1);
		await flush();
		expect(calls).toHaveLength(2);

		children[1]?.print("opencode server listening on http://127.0.0.1:9");
		await flush();
		expect(supervisor.phase).toBe("warming");
		expect(supervisor.connection()?.url).toBe("http://127.0.0.1:9");

		const lostBefore = lost.length;
		children[1]?.exit(1);
		await flush();
		expect(lost.slice(lostBefore)).toEqual(["engine exited with code 1"]);
		expect(lines.some((l) => l.includes('"engine exited"') && l.includes('"level":"error"'))).toBe(true);
		// The second failure in a row waits twice as long.
		clock.advance(999);
		await flush();
		expect(calls).toHaveLength(2);
		clock.advance(1);
		await flush();
		expect(calls).toHaveLength(3);

		const stopping = supervisor.stop(1000);
		await flush();
		expect(children[2]?.signals).toEqual(["SIGTERM"]);
		await stopping;
		expect(supervisor.phase).toBe("stopped");
		expect(supervisor.notReadyReason).toContain("stopped");
	});
});
