import { dirname, resolve } from "node:path";
import { ConfigError, parseConfig } from "./config/parse";
import { listen } from "./http/listen";
import { systemClock } from "./lib/clock";
import { createLogger } from "./lib/log";
import { hardenProcess } from "./security/harden";
import { createSidecar } from "./sidecar";

// First, before any secret is read: other processes of our uid (the agent's tools) may not read our memory.
const hardening = hardenProcess();

const installDir = resolve(dirname(new URL(import.meta.url).pathname), "..");

let config: ReturnType<typeof parseConfig>;
try {
	config = parseConfig(process.env, installDir);
} catch (error) {
	if (error instanceof ConfigError) {
		process.stderr.write(`opencode-sidecar: invalid configuration: ${error.message}\n`);
		process.exit(78); // EX_CONFIG
	}
	throw error;
}
// Held in the frozen config only: nothing spawned later (engine, git, tools) may inherit it.
delete process.env.OPENCODE_SHARED_SECRET;

const log = createLogger(config.logLevel);
const sidecar = createSidecar(config, systemClock, log, { hardening });
const server = listen(config, sidecar.app);
log.info(
	{
		host: config.host,
		port: server.server?.port,
		workspace: config.workspaceDir,
		state_dir: config.stateDir,
	},
	"sidecar listening",
);

let stopping = false;
/**
 * SIGTERM: readiness turns 503 and new sessions are refused at once; after
 * SHUTDOWN_DELAY (time for the pod to leave Service endpoints) open streams
 * end cleanly (clients resume with Last-Event-ID on the next pod), logs are
 * flushed and the engine is stopped. Whatever remains after SHUTDOWN_TIMEOUT
 * is cut short. Runs still in progress stay recorded as running and end
 * `interrupted` when the sidecar starts again on the same state directory.
 */
async function shutdown(signal: string): Promise<void> {
	if (stopping) return;
	stopping = true;
	log.info(
		{ signal, delay_ms: config.shutdownDelayMs, timeout_ms: config.shutdownTimeoutMs },
		"shutting down: not ready",
	);
	const deadline = setTimeout(() => {
		log.error("shutdown did not finish within SHUTDOWN_TIMEOUT; exiting");
		process.exit(1);
	}, config.shutdownTimeoutMs);
	sidecar.drain();
	await Bun.sleep(config.shutdownDelayMs);
	await sidecar.stop();
	await server.stop(true);
	clearTimeout(deadline);
	log.info("stopped");
	log.flush?.();
	process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
