import { dirname, resolve } from "node:path";
import { ConfigError, parseConfig } from "./config/parse";
import { systemClock } from "./lib/clock";
import { createLogger } from "./lib/log";
import { createSidecar } from "./sidecar";

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

const log = createLogger(config.logLevel);
const sidecar = createSidecar(config, systemClock, log);
const server = sidecar.app.listen({
	hostname: config.host,
	port: config.port,
	// Streams disable it per request; this bounds everything else.
	idleTimeout: config.httpIdleTimeoutSeconds,
	maxRequestBodySize: config.maxBodyBytes + 1024,
});
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
async function shutdown(signal: string): Promise<void> {
	if (stopping) return;
	stopping = true;
	log.info({ signal }, "shutting down");
	sidecar.drain();
	await sidecar.stop();
	await server.stop(true);
	log.info("stopped");
	log.flush?.();
	process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
