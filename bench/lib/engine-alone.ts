import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json";
import { buildEngineConfig } from "../../src/engine/config";
import { REPO } from "./child";
import { now } from "./clock";

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

/**
 * Starts `opencode serve` on its own, the way the sidecar's supervisor does
 * (src/engine/supervisor.ts `launch()`: same binary, arguments, environment,
 * engine-home layout and configuration shape), and measures spawn to the
 * "listening on" line. Kept in step with `launch()` by hand.
 */
export async function timeEngineAlone(
	workspace: string,
	engineDir: string,
	timeoutMs = 60_000,
): Promise<{ ms: number; pid: number; stop: () => Promise<void> }> {
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
		OPENCODE_SERVER_PASSWORD: randomBytes(24).toString("base64url"),
		// No gateway runs here; the engine does not call its providers until a prompt.
		OPENCODE_CONFIG_CONTENT: JSON.stringify(
			buildEngineConfig("http://127.0.0.1:9", randomBytes(24).toString("base64url")),
		),
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
	for (const dir of [env.XDG_CONFIG_HOME, env.XDG_DATA_HOME, env.XDG_CACHE_HOME, env.XDG_STATE_HOME])
		mkdirSync(dir as string, { recursive: true, mode: 0o700 });
	// The supervisor pre-seeds the plugin install so the engine does not try to fetch it.
	const pluginDir = join(env.XDG_CONFIG_HOME as string, "opencode");
	const dependencies = { "@opencode-ai/plugin": pkg.dependencies["opencode-ai"] };
	mkdirSync(join(pluginDir, "node_modules"), { recursive: true, mode: 0o700 });
	writeFileSync(join(pluginDir, "package.json"), JSON.stringify({ dependencies }));
	writeFileSync(
		join(pluginDir, "package-lock.json"),
		JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies } } }),
	);

	const started = now();
	const proc = Bun.spawn(
		[join(REPO, "node_modules/.bin/opencode"), "serve", "--hostname", "127.0.0.1", "--port", "0"],
		{
			cwd: workspace,
			env,
			stdin: "ignore",
			stdout: "pipe",
			stderr: "ignore",
		},
	);
	const stop = async () => {
		if (proc.exitCode !== null) return;
		proc.kill("SIGTERM");
		const killer = setTimeout(() => proc.kill("SIGKILL"), 3000);
		await proc.exited;
		clearTimeout(killer);
	};
	const decoder = new TextDecoder();
	let text = "";
	const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
	try {
		for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
			text += decoder.decode(chunk, { stream: true });
			if (LISTENING.test(text)) return { ms: now() - started, pid: proc.pid, stop };
		}
	} finally {
		clearTimeout(timer);
	}
	await stop();
	throw new Error(`engine alone never listened:\n${text.slice(-2000)}`);
}
