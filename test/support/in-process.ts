import { afterAll, beforeAll, expect } from "bun:test";
import { resolve } from "node:path";
import { parseConfig } from "../../src/config/parse";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { createSidecar, type Sidecar, type SidecarOptions } from "../../src/sidecar";
import { checkResponse } from "./conformance";
import { engineRelease, withTestEngine } from "./engine-release";
import { type ScriptedLlm, startScriptedLlm } from "./scripted-llm";
import { findSecrets } from "./secrets";
import { SHARED_MACHINE_TIMEOUTS } from "./shared-machine";
import { makeTempDirs, type TempDirs } from "./workspace";

/** A sidecar built in this process (real engine and gateway), driven through `app.handle`. */
export interface InProcess {
	readonly sidecar: Sidecar;
	readonly logLines: string[];
	handle(path: string, init?: RequestInit): Promise<Response>;
}

/** What a test may pass to the sidecar; the engine's release is probed from its binary, as src/main.ts does. */
export type InProcessOptions = Omit<SidecarOptions, "release">;

export async function startInProcess(
	given: Record<string, string>,
	options: InProcessOptions = {},
): Promise<InProcess> {
	const env = withTestEngine(given);
	const config = parseConfig(
		{ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "debug", ...SHARED_MACHINE_TIMEOUTS, ...env },
		resolve(import.meta.dir, "../.."),
	);
	const logLines: string[] = [];
	const log = createLogger(config.logLevel, {
		write: (line: string) => void logLines.push(line),
	});
	const sidecar = createSidecar(config, systemClock, log, { ...options, release: await engineRelease(env) });
	await sidecar.engine.whenReady();
	return {
		sidecar,
		logLines,
		handle: async (path, init) => {
			const res = await sidecar.app.handle(new Request(`http://localhost${path}`, init));
			await checkResponse(init?.method ?? "GET", path, res);
			return res;
		},
	};
}

/** What the tests of one file share with {@link useInProcess}; valid from `beforeAll` on. */
export interface InProcessSuite extends InProcess {
	readonly llm: ScriptedLlm;
	/** The sidecar's WORKSPACE_DIR and STATE_DIR. */
	readonly dirs: TempDirs;
	/** API keys the tests used: after the tests none may be in the logs, the state or the workspace. */
	readonly keys: string[];
	/** `POST /sessions` with `body` as JSON. */
	post(body: unknown): Promise<Response>;
}

/**
 * Registers the file's set-up: a scripted LLM, fresh directories and a sidecar
 * built in this process on them (`env` over WORKSPACE_DIR and STATE_DIR),
 * stopped and removed after the tests, which then check that no key of
 * `keys` was written anywhere. `prepare` readies the directories (e.g. a
 * repository in the workspace) before the sidecar starts on them.
 */
export function useInProcess(
	env: Record<string, string> = {},
	options: InProcessOptions = {},
	prepare?: (dirs: TempDirs) => void,
): InProcessSuite {
	let llm: ScriptedLlm | undefined;
	let dirs: TempDirs | undefined;
	let started: InProcess | undefined;
	const keys: string[] = [];
	const ready = <T>(value: T | undefined): T => {
		if (value === undefined) throw new Error("useInProcess: used before beforeAll");
		return value;
	};
	beforeAll(async () => {
		llm = await startScriptedLlm();
		dirs = makeTempDirs();
		prepare?.(dirs);
		started = await startInProcess({ WORKSPACE_DIR: dirs.workspace, STATE_DIR: dirs.state, ...env }, options);
	});
	afterAll(async () => {
		await started?.sidecar.stop();
		await llm?.close();
		if (!dirs) return;
		const logs = started?.logLines.join("\n") ?? "";
		const found = findSecrets(keys, { texts: { logs }, dirs: [dirs.state, dirs.workspace] });
		dirs.cleanup();
		expect(found).toEqual([]);
	});
	const suite: InProcessSuite = {
		get llm() {
			return ready(llm);
		},
		get dirs() {
			return ready(dirs);
		},
		get sidecar() {
			return ready(started).sidecar;
		},
		get logLines() {
			return ready(started).logLines;
		},
		keys,
		handle: (path, init) => ready(started).handle(path, init),
		post: (body) =>
			suite.handle("/sessions", {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify(body),
			}),
	};
	return suite;
}
