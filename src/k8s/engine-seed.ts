import { copyFileSync, existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * The engine's global config directory, as the supervisor lays out the
 * engine's home under the state directory (src/engine/supervisor.ts:
 * `XDG_CONFIG_HOME=<stateDir>/engine/home/.config`).
 */
export function engineConfigDir(stateDir: string): string {
	return join(stateDir, "engine", "home", ".config", "opencode");
}

/** The files the engine's own dependency install leaves beside node_modules. */
const SEED_FILES = ["package.json", "package-lock.json", ".gitignore"];

export type SeedOutcome =
	/** node_modules now links to the image's copy; the manifest files were refreshed. */
	| "linked"
	/** The engine installed its own node_modules here earlier; left alone. */
	| "kept";

/**
 * At start the engine npm-installs `@opencode-ai/plugin` into its global
 * config directory unless `node_modules` exists there and the lockfile's root
 * lists every dependency of package.json. The image installs exactly that at
 * build time (`seedDir`, read-only); this links it into the config directory,
 * which lives on the state volume, so the engine finds it installed and never
 * reaches for a registry. The manifest files are copied (they are tiny and
 * must match the linked tree after an image upgrade); `node_modules` is a
 * symlink, so nothing large is written to the volume.
 */
export function seedEngineConfig(seedDir: string, configDir: string): SeedOutcome {
	const source = join(seedDir, "node_modules");
	if (!existsSync(source)) throw new Error(`${source} is missing: not an engine seed directory`);
	mkdirSync(configDir, { recursive: true, mode: 0o700 });
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

function lstatSafe(path: string) {
	try {
		return lstatSync(path);
	} catch {
		return undefined;
	}
}
