import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };

/** The engine version installed with the sidecar (package.json pins it). */
const ENGINE_VERSION: string = pkg.dependencies["opencode-ai"];

/**
 * The engine's whole environment, built from nothing (it would read provider
 * keys such as OPENAI_API_KEY from an inherited one), with its home, config,
 * data and cache under `engineDir`, and the directories made.
 */
export function prepareEngineEnvironment(
	engineDir: string,
	config: Record<string, unknown>,
	password: string,
): Record<string, string> {
	const home = join(engineDir, "home");
	const env: Record<string, string> = {
		PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
		LANG: process.env.LANG ?? "C.UTF-8",
		TMPDIR: process.env.TMPDIR ?? "/tmp",
		HOME: home,
		XDG_CONFIG_HOME: join(home, ".config"),
		XDG_DATA_HOME: join(engineDir, "data"),
		XDG_CACHE_HOME: join(engineDir, "cache"),
		XDG_STATE_HOME: join(engineDir, "state"),
		OPENCODE_SERVER_PASSWORD: password,
		OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
		// Headless and offline: nothing may wait for a person or reach the internet on its own.
		// "cli" registers the question tool (the sidecar answers questions); permissions never wait: see config.ts.
		OPENCODE_CLIENT: "cli",
		OPENCODE_DISABLE_AUTOUPDATE: "1",
		OPENCODE_DISABLE_MODELS_FETCH: "1",
		OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
		OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
		OPENCODE_DISABLE_CLAUDE_CODE: "1",
		OPENCODE_DISABLE_SHARE: "1",
		OPENCODE_DISABLE_PROJECT_CONFIG: "1",
		OPENCODE_DISABLE_EXTERNAL_SKILLS: "1",
	};
	for (const dir of [env.XDG_CONFIG_HOME, env.XDG_DATA_HOME, env.XDG_CACHE_HOME, env.XDG_STATE_HOME]) {
		mkdirSync(dir as string, { recursive: true, mode: 0o700 });
	}
	seedPluginInstall(join(env.XDG_CONFIG_HOME as string, "opencode"));
	return env;
}

/**
 * At start the engine runs `npm install @opencode-ai/plugin` in its config
 * directory unless that install looks done. It is only for plugins, which the
 * sidecar does not use, and a pod has no registry: pre-seed the markers so it
 * never reaches for the network.
 */
function seedPluginInstall(dir: string): void {
	const dependencies = { "@opencode-ai/plugin": ENGINE_VERSION };
	mkdirSync(join(dir, "node_modules"), { recursive: true, mode: 0o700 });
	const write = (name: string, value: unknown) => {
		try {
			writeFileSync(join(dir, name), JSON.stringify(value), { flag: "wx", mode: 0o600 });
		} catch {
			// Already there.
		}
	};
	write("package.json", { dependencies });
	write("package-lock.json", { lockfileVersion: 3, packages: { "": { dependencies } } });
}
