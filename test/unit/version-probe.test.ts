import { describe, expect, test } from "bun:test";
import { EngineVersionError } from "../../src/engine/generation";
import type { ChildProcess, Spawn } from "../../src/engine/process";
import { probeEngineVersion } from "../../src/engine/version-probe";
import { ManualClock } from "../support/manual-clock";

// `--version` through the injected launcher and clock: no binary, no waiting.

function child(stdout: string | undefined): ChildProcess & { killed: string[] } {
	let exit: (code: number) => void = () => {};
	const killed: string[] = [];
	const self = {
		pid: 1,
		exitCode: null as number | null,
		signalCode: null as string | null,
		killed,
		stdout: new ReadableStream<Uint8Array>({
			start(c) {
				if (stdout === undefined) return; // never prints, never exits
				c.enqueue(new TextEncoder().encode(stdout));
				c.close();
				queueMicrotask(() => {
					self.exitCode = 0;
					exit(0);
				});
			},
		}),
		stderr: new ReadableStream<Uint8Array>({ start: (c) => c.close() }),
		exited: new Promise<number>((r) => {
			exit = r;
		}),
		kill(signal: NodeJS.Signals = "SIGTERM") {
			killed.push(signal);
			self.signalCode = signal;
			exit(137);
		},
	};
	return self;
}

describe("probing the engine's version", () => {
	test("runs `<bin> --version` with no inherited environment and reads the release", async () => {
		const calls: { cmd: readonly string[]; env: Record<string, string | undefined> }[] = [];
		const spawn: Spawn = (cmd, o) => {
			calls.push({ cmd, env: o.env });
			return child("1.18.33\n");
		};
		const release = await probeEngineVersion({
			bin: "/opt/opencode",
			spawn,
			clock: new ManualClock(),
			timeoutMs: 1000,
		});
		expect(release).toEqual({ version: "1.18.33", generation: "1" });
		expect(calls[0]?.cmd).toEqual(["/opt/opencode", "--version"]);
		expect(Object.keys(calls[0]?.env ?? {}).some((k) => k.endsWith("_API_KEY"))).toBe(false);
	});

	test("a `--version` that never answers is killed after the timeout: a transient error, not a wrong engine", async () => {
		const clock = new ManualClock();
		const stuck = child(undefined);
		const probing = probeEngineVersion({ bin: "/opt/opencode", spawn: () => stuck, clock, timeoutMs: 30_000 });
		clock.advance(30_000);
		const error = await probing.catch((e: unknown) => e);
		expect(error).toBeInstanceOf(EngineVersionError);
		expect(error).toMatchObject({ transient: true, message: "/opt/opencode --version did not answer within 30000 ms" });
		expect(stuck.killed).toEqual(["SIGKILL"]);
	});

	test("a binary that cannot be started is a configuration error naming it", async () => {
		const spawn: Spawn = () => {
			throw new Error("ENOENT");
		};
		const error = await probeEngineVersion({
			bin: "/no/opencode",
			spawn,
			clock: new ManualClock(),
			timeoutMs: 1000,
		}).catch((e: unknown) => e);
		expect(error).toMatchObject({ transient: false, message: "could not run /no/opencode --version: Error: ENOENT" });
	});
});
