import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type SeedOutcome, seedEngineConfig } from "../engine/seed";

/**
 * The engine's home and configuration home (`HOME`, `XDG_CONFIG_HOME`: its global `opencode.json`,
 * `AGENTS.md`, plugins, `~/.claude/CLAUDE.md`), kept out of STATE_DIR and rebuilt from the image at
 * every engine start (issue 19). The agent runs as the sidecar's uid and can still write here while
 * an engine runs, and OpenCode 1.18 reads the global `AGENTS.md` again for every LLM request (its
 * config and plugins once per start): so what was built is fingerprinted, and the gateway checks the
 * fingerprint before it forwards any call (`EngineHomeGuard`).
 */
export class EngineHome {
	private print: Map<string, string> | undefined;

	/** `dir`: a directory of this process's own (made at start, outside STATE_DIR); `seedDir`: ENGINE_SEED_DIR. */
	constructor(
		readonly dir: string,
		private readonly seedDir: string | undefined,
	) {}

	get configDir(): string {
		return join(this.dir, ".config", "opencode");
	}

	/** Empties the home and builds it again as the image has it; called before each engine start. */
	rebuild(): SeedOutcome {
		rmSync(this.dir, { recursive: true, force: true });
		mkdirSync(this.configDir, { recursive: true, mode: 0o700 });
		const outcome = seedEngineConfig(this.configDir, this.seedDir);
		// What the engine writes there at start (1.18), so that its own write changes nothing.
		try {
			writeFileSync(join(this.configDir, ".gitignore"), ENGINE_GITIGNORE, { flag: "wx", mode: 0o644 });
		} catch {
			// The seed's own copy.
		}
		this.print = fingerprint(this.dir);
		return outcome;
	}

	/** A path added, removed or changed since the last rebuild; undefined when nothing changed (or never built). */
	changed(): string | undefined {
		if (!this.print) return undefined;
		return difference(this.print, fingerprint(this.dir));
	}

	/** Removes the home (at shutdown). */
	remove(): void {
		rmSync(this.dir, { recursive: true, force: true });
	}
}

const ENGINE_GITIGNORE = "node_modules\npackage.json\npackage-lock.json\nbun.lock\n.gitignore";

/**
 * Every path under `dir` with what it is: a file by its content's hash (not its mtime, which the
 * agent can set back), a link by its target (not followed: the image's seed is read-only), a directory.
 * Hand-written: a few files; no library fingerprints a tree without following links.
 */
export function fingerprint(dir: string): Map<string, string> {
	const out = new Map<string, string>();
	const walk = (rel: string) => {
		const path = join(dir, rel);
		let names: string[];
		try {
			names = readdirSync(path);
		} catch {
			out.set(rel, "unreadable");
			return;
		}
		for (const name of names) {
			const child = rel === "" ? name : `${rel}/${name}`;
			const full = join(dir, child);
			try {
				const stat = lstatSync(full);
				if (stat.isSymbolicLink()) out.set(child, `link:${readlinkSync(full)}`);
				else if (stat.isDirectory()) {
					out.set(child, "dir");
					walk(child);
				} else out.set(child, `file:${createHash("sha256").update(readFileSync(full)).digest("hex")}`);
			} catch {
				out.set(child, "unreadable");
			}
		}
	};
	walk("");
	return out;
}

/** The first path that differs between two fingerprints; undefined when they are the same. */
export function difference(a: Map<string, string>, b: Map<string, string>): string | undefined {
	for (const [path, what] of b) if (a.get(path) !== what) return path;
	for (const path of a.keys()) if (!b.has(path)) return path;
	return undefined;
}

export interface EngineHomeGuardOptions {
	readonly home: Pick<EngineHome, "changed">;
	/** Replaces the engine process (it starts on a rebuilt home). */
	readonly recycle: (reason: string) => void;
	/** Subscribes to the engine process being lost. */
	readonly onLost: (listener: () => void) => () => void;
	/** Told once per change found (a log line, a metric, an Event). */
	readonly report: (path: string) => void;
}

/**
 * Before the gateway forwards an engine's LLM call: if the engine's home changed since it started,
 * the call is held (never forwarded, never answered with an error the run would end on) until the
 * engine, recycled at once, is gone; its runs resume in the new engine, on a rebuilt home.
 */
export class EngineHomeGuard {
	private held: Promise<void> | undefined;

	constructor(private readonly options: EngineHomeGuardOptions) {}

	/** Undefined: forward the call. Otherwise a promise that resolves once the engine is gone: refuse it then. */
	check(): Promise<void> | undefined {
		if (this.held) return this.held;
		const path = this.options.home.changed();
		if (path === undefined) return undefined;
		this.options.report(path);
		this.held = new Promise<void>((resolve) => {
			const off = this.options.onLost(() => {
				off();
				this.held = undefined;
				resolve();
			});
		});
		this.options.recycle(`the engine's configuration home changed (${path}); the engine starts again on a rebuilt one`);
		return this.held;
	}
}
