import { dirname, resolve } from "node:path";
import { ConfigError, parseConfig } from "./config/parse";
import { EngineVersionError } from "./engine/generation";
import { bunSpawn } from "./engine/process";
import { probeEngineVersion } from "./engine/version-probe";
import { listen } from "./http/listen";
import { systemClock } from "./lib/clock";
import { createLogger } from "./lib/log";
import { hardenProcess } from "./security/harden";
import { shutdownOnSignal } from "./shutdown";
import { createSidecar } from "./sidecar";
import { loadTracing } from "./telemetry/load";
import type { Tracing } from "./telemetry/port";
import { TracingConfigError } from "./telemetry/settings";
import { VERSION } from "./version";

// First, before any secret is read: other processes of our uid (the agent's tools) may not read our memory.
const hardening = hardenProcess();

const installDir = resolve(dirname(new URL(import.meta.url).pathname), "..");

let config: ReturnType<typeof parseConfig>;
let tracing: Tracing;
try {
	config = parseConfig(process.env, installDir);
	// Off unless an OTLP endpoint is set: then (only then) the OpenTelemetry SDK is loaded.
	tracing = await loadTracing(process.env, config, VERSION);
} catch (error) {
	if (error instanceof ConfigError || error instanceof TracingConfigError) {
		process.stderr.write(`opencode-sidecar: invalid configuration: ${error.message}\n`);
		process.exit(78); // EX_CONFIG
	}
	throw error;
}
// Held in the frozen config only: nothing spawned later (engine, git, tools) may inherit it.
delete process.env.OPENCODE_SHARED_SECRET;

const log = createLogger(config.logLevel, undefined, tracing.enabled ? tracing.traceId : undefined);
// The engine's generation picks its adapter: read from the binary, never guessed from how it answers.
let release: Awaited<ReturnType<typeof probeEngineVersion>>;
try {
	release = await probeEngineVersion({
		bin: config.engineBin,
		spawn: bunSpawn,
		clock: systemClock,
		timeoutMs: config.engineStartTimeoutMs,
	});
} catch (error) {
	if (error instanceof EngineVersionError && error.transient) {
		process.stderr.write(`opencode-sidecar: engine version unknown: ${error.message}\n`);
		process.exit(75); // EX_TEMPFAIL: an overloaded node, not a wrong engine; the restart tries again
	}
	if (error instanceof EngineVersionError) {
		process.stderr.write(`opencode-sidecar: unsupported engine: ${error.message}\n`);
		process.exit(78); // EX_CONFIG
	}
	throw error;
}
log.info({ bin: config.engineBin, version: release.version, generation: release.generation }, "engine identified");
const sidecar = createSidecar(config, systemClock, log, { hardening, release, tracing });
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

let shutdownStarted = systemClock.now();
const shutdown = shutdownOnSignal({
	clock: systemClock,
	log,
	delayMs: config.shutdownDelayMs,
	timeoutMs: config.shutdownTimeoutMs,
	drain: () => {
		shutdownStarted = systemClock.now();
		sidecar.drain();
	},
	async stop() {
		await sidecar.stop();
		await server.stop(true);
		// Last: the spans of everything above. What a slow collector has not taken a second before SHUTDOWN_TIMEOUT is lost.
		const left = shutdownStarted + config.shutdownTimeoutMs - 1000 - systemClock.now();
		await tracing.shutdown(Math.max(0, left));
	},
	exit: (code) => process.exit(code),
});
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
