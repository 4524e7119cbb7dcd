import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { engineConfigDir, seedEngineConfig } from "./seed";

/** A home for the engine outside `engineDir`, rebuilt before each start (security/engine-home.ts). */
export interface RebuiltHome {
	readonly dir: string;
	rebuild(): unknown;
}

/**
 * The engine's whole environment, built from nothing (it would read provider
 * keys such as OPENAI_API_KEY from an inherited one), with its data and cache
 * under `engineDir`, its home and config home in `rebuilt` (rebuilt now) or
 * else under `engineDir`, and the directories made.
 */
export function prepareEngineEnvironment(
	engineDir: string,
	config: Record<string, unknown>,
	password: string,
	rebuilt?: RebuiltHome,
): Record<string, string> {
	rebuilt?.rebuild();
	const home = rebuilt?.dir ?? join(engineDir, "home");
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
	// Unless the image's seed was linked before the first start (sidecar.ts), the install is marked done.
	if (!rebuilt) seedEngineConfig(engineConfigDir(engineDir));
	return env;
}
