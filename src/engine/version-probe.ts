import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../lib/clock";
import { eachLine } from "../lib/lines";
import { type EngineRelease, EngineVersionError, identifyRelease, type SupportedRange } from "./generation";
import type { Spawn } from "./process";

export interface ProbeOptions {
	readonly bin: string;
	readonly spawn: Spawn;
	readonly clock: Clock;
	/** The probe is killed and counts as failed after this long (ENGINE_START_TIMEOUT). */
	readonly timeoutMs: number;
	readonly ranges?: readonly SupportedRange[];
}

/**
 * Runs `<bin> --version` and identifies the release (generation.ts). The
 * process gets a throwaway home (the engine makes its directories even for
 * `--version`) and no inherited environment (no provider key reaches it).
 * Throws `EngineVersionError` when it cannot be started, fails, times out,
 * or names an unsupported version.
 */
export async function probeEngineVersion(o: ProbeOptions): Promise<EngineRelease> {
	const home = mkdtempSync(join(tmpdir(), "opencode-version-"));
	try {
		let child: ReturnType<Spawn>;
		try {
			child = o.spawn([o.bin, "--version"], {
				cwd: home,
				env: {
					PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
					HOME: home,
					XDG_CONFIG_HOME: join(home, "config"),
					XDG_DATA_HOME: join(home, "data"),
					XDG_CACHE_HOME: join(home, "cache"),
					XDG_STATE_HOME: join(home, "state"),
					OPENCODE_DISABLE_AUTOUPDATE: "1",
				},
			});
		} catch (error) {
			throw new EngineVersionError(`could not run ${o.bin} --version: ${String(error)}`);
		}
		const stdout: string[] = [];
		const stderr: string[] = [];
		const read = Promise.all([
			eachLine(child.stdout, (l) => void stdout.push(l)),
			eachLine(child.stderr, (l) => void stderr.push(l)),
		]);
		let timedOut = false;
		const cancel = o.clock.setTimeout(() => {
			timedOut = true;
			child.kill("SIGKILL");
		}, o.timeoutMs);
		try {
			await child.exited;
		} finally {
			cancel();
		}
		// Not waiting for its output then: a process it started may hold the pipes open.
		if (timedOut) throw new EngineVersionError(`${o.bin} --version did not answer within ${o.timeoutMs} ms`, true);
		await read;
		return identifyRelease(
			o.bin,
			{ code: child.exitCode, stdout: stdout.join("\n"), stderr: stderr.join("\n") },
			o.ranges,
		);
	} finally {
		rmSync(home, { recursive: true, force: true });
	}
}
