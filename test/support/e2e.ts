import { afterAll, beforeAll, expect } from "bun:test";
import { type ScriptedLlm, startScriptedLlm, type Turn } from "./scripted-llm";
import { findSecrets } from "./secrets";
import { type SidecarProcess, startSidecar } from "./sidecar-process";
import type { Received } from "./sse-client";
import { makeTempDirs, type TempDirs } from "./workspace";

/** Options of {@link useE2eSidecar}. */
export interface E2eOptions {
	/** Environment of every sidecar the file starts, over `startSidecar`'s defaults. */
	readonly env?: Record<string, string>;
	/**
	 * Run one session through the scripted LLM after each start (default true), so the
	 * engine's lazy project set-up does not eat into short timeouts. Off where POST /sessions
	 * needs a bearer token, which the warm-up does not send.
	 */
	readonly warmUp?: boolean;
	/** Start a sidecar on fresh directories before the tests (default true); false: tests call `start()`. */
	readonly sidecar?: boolean;
	/** Secrets other than session API keys that must appear nowhere either (e.g. a bearer token). */
	readonly secrets?: readonly string[];
}

export interface StartE2eSidecar {
	/** Default: the file's directories. */
	readonly dirs?: TempDirs;
	/** Merged over the file's `env`. */
	readonly env?: Record<string, string>;
	/** Default: the file's `warmUp`. */
	readonly warmUp?: boolean;
	/** How long to wait for the engine to be ready (default 60 s). */
	readonly readyTimeoutMs?: number;
}

/** What the tests of one e2e file share; valid from `beforeAll` on. */
export interface E2e {
	readonly llm: ScriptedLlm;
	/** The directories of the sidecar started before the tests. */
	readonly dirs: TempDirs;
	/** The sidecar started before the tests (the new one after `restart()`). */
	readonly sidecar: SidecarProcess;
	/** Every secret of the file: none may appear in logs, events, bodies, state or workspaces. */
	readonly keys: readonly string[];
	/** Event sequences the tests received; scanned for the keys at the end. */
	readonly seen: Received[][];
	/** Response bodies the tests read; scanned for the keys at the end. */
	readonly bodies: string[];
	/** A new API key `${prefix}-<uuid>`, scanned for at the end; scripted with `turns` when given. */
	newKey(prefix: string, turns?: Turn[]): string;
	/** Fresh temporary directories, scanned and removed at the end. */
	makeDirs(): TempDirs;
	/** Starts another sidecar; it is stopped (if still running) and its output scanned at the end. */
	start(options?: StartE2eSidecar): Promise<SidecarProcess>;
	/** Stops the sidecar started before the tests and starts a new one on the same directories. */
	restart(options?: Omit<StartE2eSidecar, "dirs">): Promise<SidecarProcess>;
}

/**
 * Registers the set-up of an e2e test file: a scripted LLM, temporary directories and a real
 * sidecar process before the tests; after them, everything is stopped, and the logs of every
 * sidecar started, the events and bodies the tests recorded, and every state directory and
 * workspace are scanned for the file's keys before the directories are removed.
 */
export function useE2eSidecar(options: E2eOptions = {}): E2e {
	let llm: ScriptedLlm | undefined;
	let dirs: TempDirs | undefined;
	let sidecar: SidecarProcess | undefined;
	const keys: string[] = [...(options.secrets ?? [])];
	const seen: Received[][] = [];
	const bodies: string[] = [];
	const allDirs: TempDirs[] = [];
	const sidecars: SidecarProcess[] = [];
	const ready = <T>(value: T | undefined, name: string): T => {
		if (value === undefined) throw new Error(`e2e ${name} is not started (used outside a test, or sidecar: false)`);
		return value;
	};

	const e2e: E2e = {
		get llm() {
			return ready(llm, "llm");
		},
		get dirs() {
			return ready(dirs, "dirs");
		},
		get sidecar() {
			return ready(sidecar, "sidecar");
		},
		keys,
		seen,
		bodies,
		newKey(prefix, turns) {
			const key = `${prefix}-${crypto.randomUUID()}`;
			keys.push(key);
			if (turns) e2e.llm.script(key, turns);
			return key;
		},
		makeDirs() {
			const d = makeTempDirs();
			allDirs.push(d);
			return d;
		},
		async start(opts = {}) {
			const on = opts.dirs ?? e2e.dirs;
			const s = await startSidecar({
				workspace: on.workspace,
				state: on.state,
				env: { ...options.env, ...opts.env },
				...(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }),
				...((opts.warmUp ?? options.warmUp ?? true) ? { warmUpWith: e2e.llm } : {}),
			});
			sidecars.push(s);
			return s;
		},
		async restart(again = {}) {
			await e2e.sidecar.stop();
			sidecar = await e2e.start(again);
			return sidecar;
		},
	};

	beforeAll(async () => {
		llm = await startScriptedLlm();
		if (options.sidecar === false) return;
		dirs = e2e.makeDirs();
		sidecar = await e2e.start();
	});

	afterAll(async () => {
		for (const s of sidecars) await s.stop();
		await llm?.close();
		const hits = findSecrets(keys, {
			texts: {
				logs: sidecars.map((s) => s.output.join("\n")).join("\n"),
				events: JSON.stringify(seen),
				bodies: bodies.join("\n"),
			},
			dirs: allDirs.flatMap((d) => [d.state, d.workspace]),
		});
		for (const d of allDirs) d.cleanup();
		expect(hits).toEqual([]);
	});

	return e2e;
}
