import {
	copyFileSync,
	existsSync,
	lstatSync,
	mkdirSync,
	readlinkSync,
	rmSync,
	symlinkSync,
	writeFileSync,
} from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import type { Logger } from "../lib/log";

/** The engine version installed with the sidecar (package.json pins it). */
const ENGINE_VERSION: string = pkg.dependencies["opencode-ai"];

/**
 * The engine's global config directory under its directory (the supervisor
 * runs it with `XDG_CONFIG_HOME=<engineDir>/home/.config`, see environment.ts).
 */
export function engineConfigDir(engineDir: string): string {
	return join(engineDir, "home", ".config", "opencode");
}

/** The files the engine's own dependency install leaves beside node_modules. */
const SEED_FILES = ["package.json", "package-lock.json", ".gitignore"];

export type SeedOutcome =
	/** node_modules now links to the image's copy; the manifest files were refreshed. */
	| "linked"
	/** The engine installed its own node_modules here earlier; left alone. */
	| "kept"
	/** No image copy: the install was marked done (an empty node_modules and manifests naming the plugin). */
	| "marked";

/**
 * At start the engine npm-installs `@opencode-ai/plugin` into its global
 * config directory unless `node_modules` exists there and the lockfile's root
 * lists every dependency of package.json. A pod has no registry, so the
 * install must look done before the engine starts, one of two ways:
 *
 * - `seedDir` (ENGINE_SEED_DIR, set by the image): the image installed exactly
 *   that at build time, read-only; its `node_modules` is linked into the
 *   config directory (on the state volume, so nothing large is written) and
 *   its manifest files copied (tiny, and they must match the linked tree after
 *   an image upgrade).
 * - no seed: an empty `node_modules` and manifests naming the plugin. The
 *   sidecar uses no plugin, so nothing is missing; files already there are
 *   left as they are.
 */
export function seedEngineConfig(configDir: string, seedDir?: string): SeedOutcome {
	mkdirSync(configDir, { recursive: true, mode: 0o700 });
	return seedDir === undefined ? markInstalled(configDir) : linkSeed(seedDir, configDir);
}

function linkSeed(seedDir: string, configDir: string): SeedOutcome {
	const source = join(seedDir, "node_modules");
	if (!existsSync(source)) throw new Error(`${source} is missing: not an engine seed directory`);
	const target = join(configDir, "node_modules");
	const stat = lstatSafe(target);
	if (!stat) symlinkSync(source, target, "dir");
	else if (!stat.isSymbolicLink()) return "kept";
	else if (readlinkSync(target) !== source) {
		// An older image's seed path.
		rmSync(target);
		symlinkSync(source, target, "dir");
	}
	for (const file of SEED_FILES) copyFileSync(join(seedDir, file), join(configDir, file));
	return "linked";
}

function markInstalled(configDir: string): SeedOutcome {
	const dependencies = { "@opencode-ai/plugin": ENGINE_VERSION };
	mkdirSync(join(configDir, "node_modules"), { recursive: true, mode: 0o700 });
	const write = (name: string, value: unknown) => {
		try {
			writeFileSync(join(configDir, name), JSON.stringify(value), { flag: "wx", mode: 0o600 });
		} catch {
			// Already there (a seed's or an earlier start's).
		}
	};
	write("package.json", { dependencies });
	write("package-lock.json", { lockfileVersion: 3, packages: { "": { dependencies } } });
	return "marked";
}

/**
 * Links the image's engine dependencies before the engine's first start;
 * a failure is logged, not fatal (the engine then tries to install them).
 */
export function seedEngine(engineDir: string, seedDir: string | undefined, log: Logger): void {
	if (seedDir === undefined) return;
	const dir = engineConfigDir(engineDir);
	try {
		log.debug({ dir, outcome: seedEngineConfig(dir, seedDir) }, "engine dependencies seeded");
	} catch (error) {
		log.warn(
			{ dir, err: error instanceof Error ? error.message : String(error) },
			"engine dependencies not seeded; the engine will try to install them",
		);
	}
}

function lstatSafe(path: string) {
	try {
		return lstatSync(path);
	} catch {
		return undefined;
	}
}
