import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { buildEngineConfig } from "../../src/engine/config";
import { prepareEngineEnvironment } from "../../src/engine/environment";
import { REPO } from "./child";
import { now } from "./clock";

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

/**
 * Starts `opencode serve` on its own, the way the sidecar's supervisor does
 * (same binary and arguments as src/engine/supervisor.ts `launch()`, and the
 * same environment from `prepareEngineEnvironment`), and measures spawn to the
 * "listening on" line.
 */
export async function timeEngineAlone(
	workspace: string,
	engineDir: string,
	timeoutMs = 60_000,
	/** Changes the configuration before the start (e.g. providers pointed straight at the scripted model). */
	configure?: (config: Record<string, unknown>) => void,
): Promise<{ ms: number; pid: number; url: string; authorization: string; stop: () => Promise<void> }> {
	// No gateway runs here; the engine does not call its providers until a prompt.
	const config = buildEngineConfig("http://127.0.0.1:9", randomBytes(24).toString("base64url"));
	configure?.(config);
	const password = randomBytes(24).toString("base64url");
	const env = prepareEngineEnvironment(engineDir, config, password);
	const authorization = `Basic ${Buffer.from(`opencode:${password}`).toString("base64")}`;

	const started = now();
	const proc = Bun.spawn(
		[join(REPO, "node_modules/opencode-ai/bin/opencode.exe"), "serve", "--hostname", "127.0.0.1", "--port", "0"],
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
			const m = LISTENING.exec(text);
			if (m) return { ms: now() - started, pid: proc.pid, url: m[1] as string, authorization, stop };
		}
	} finally {
		clearTimeout(timer);
	}
	await stop();
	throw new Error(`engine alone never listened:\n${text.slice(-2000)}`);
}
