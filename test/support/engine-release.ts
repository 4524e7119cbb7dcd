import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_ENGINE_BIN, engineBinary } from "../../src/config/kinds";
import type { EngineGeneration, EngineRelease } from "../../src/engine/generation";
import { bunSpawn } from "../../src/engine/process";
import { engineToolsOf } from "../../src/engine/v2/tool-names";
import { probeEngineVersion } from "../../src/engine/version-probe";
import { systemClock } from "../../src/lib/clock";

const REPO = resolve(import.meta.dir, "../..");
const probed = new Map<string, Promise<EngineRelease>>();
const CACHE = join(tmpdir(), "opencode-sidecar-tests");

/**
 * Where the release probed from this very binary file (path, inode, size, modification time) is kept for
 * the next test process: every file runs in a process of its own, and `--version` costs ~2 s of CPU.
 */
function cacheFile(bin: string): string | undefined {
	try {
		const s = statSync(bin);
		const key = createHash("sha256").update(`${bin}\0${s.ino}\0${s.size}\0${s.mtimeMs}`).digest("hex");
		return join(CACHE, `release-${key.slice(0, 32)}.json`);
	} catch {
		return undefined; // No such binary: the probe says why.
	}
}

function readCached(file: string | undefined): EngineRelease | undefined {
	if (!file) return undefined;
	try {
		const r = JSON.parse(readFileSync(file, "utf8")) as Partial<EngineRelease>;
		return typeof r.version === "string" && typeof r.generation === "string" ? (r as EngineRelease) : undefined;
	} catch {
		return undefined;
	}
}

async function probe(bin: string): Promise<EngineRelease> {
	const file = cacheFile(bin);
	const known = readCached(file);
	if (known) return known;
	const release = await probeEngineVersion({ bin, spawn: bunSpawn, clock: systemClock, timeoutMs: 60_000 });
	if (file) {
		mkdirSync(CACHE, { recursive: true });
		const partial = `${file}.${process.pid}`;
		writeFileSync(partial, JSON.stringify(release));
		renameSync(partial, file);
	}
	return release;
}

/** The installed binary of each generation (package.json installs both). */
const BINARIES: Readonly<Record<EngineGeneration, string>> = {
	"1": join(REPO, ...DEFAULT_ENGINE_BIN),
	"2": join(REPO, "node_modules", "@opencode", "cli", "bin", "opencode.exe"),
};

/**
 * `TEST_ENGINE=1|2` (default 1), read once: the engine generation the http, e2e and faults
 * layers run. Every test sidecar gets its binary as OPENCODE_BIN unless the test names one.
 */
export const TEST_ENGINE: EngineGeneration = (() => {
	const value = process.env.TEST_ENGINE ?? "1";
	if (value !== "1" && value !== "2") throw new Error(`TEST_ENGINE must be 1 or 2, not ${JSON.stringify(value)}`);
	return value;
})();

/** OPENCODE_BIN of the engine under test. */
export const TEST_ENGINE_BIN = BINARIES[TEST_ENGINE];

/** `env` with OPENCODE_BIN of the engine under test, unless it names one. */
export function withTestEngine<T extends Record<string, string | undefined>>(env: T): T & { OPENCODE_BIN: string } {
	return { ...env, OPENCODE_BIN: env.OPENCODE_BIN ?? TEST_ENGINE_BIN };
}

/**
 * The release of the engine a test sidecar runs (`OPENCODE_BIN` of `env`, else
 * the engine under test), probed as src/main.ts does, once per binary file.
 */
export function engineRelease(env: Record<string, string | undefined> = {}): Promise<EngineRelease> {
	const bin = engineBinary.parse(withTestEngine(env).OPENCODE_BIN, { installDir: REPO });
	let release = probed.get(bin);
	if (!release) {
		release = probe(bin);
		probed.set(bin, release);
	}
	return release;
}

/**
 * The names the engine under test offers the model for one of the contract's (1.x) tool ids
 * (2.x: `bash` is `shell` and `execute`; `todowrite` and `apply_patch` are none).
 */
export function offeredToolNames(tool: string): readonly string[] {
	return TEST_ENGINE === "2" ? engineToolsOf(tool) : [tool];
}
