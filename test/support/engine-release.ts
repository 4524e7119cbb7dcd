import { resolve } from "node:path";
import { engineBinary } from "../../src/config/kinds";
import type { EngineRelease } from "../../src/engine/generation";
import { bunSpawn } from "../../src/engine/process";
import { probeEngineVersion } from "../../src/engine/version-probe";
import { systemClock } from "../../src/lib/clock";

const REPO = resolve(import.meta.dir, "../..");
const probed = new Map<string, Promise<EngineRelease>>();

/**
 * The release of the engine a test sidecar runs (`OPENCODE_BIN` of `env`, else
 * the installed one), probed as src/main.ts does, once per binary and process.
 */
export function engineRelease(env: Record<string, string | undefined> = {}): Promise<EngineRelease> {
	const bin = engineBinary.parse(env.OPENCODE_BIN ?? "", { installDir: REPO });
	let release = probed.get(bin);
	if (!release) {
		release = probeEngineVersion({ bin, spawn: bunSpawn, clock: systemClock, timeoutMs: 60_000 });
		probed.set(bin, release);
	}
	return release;
}
