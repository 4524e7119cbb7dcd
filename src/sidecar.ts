import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type App, createApp } from "./app";
import type { Config } from "./config/parse";
import { buildEngineConfig } from "./engine/config";
import { EngineSupervisor } from "./engine/supervisor";
import { type Gateway, startGateway } from "./gateway/server";
import type { Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import { SessionManager } from "./sessions/manager";
import { SessionStore } from "./sessions/store";
import { StreamHub } from "./sse/hub";
import { VERSION } from "./version";

export interface Sidecar {
	readonly app: App;
	readonly sessions: SessionManager;
	readonly engine: EngineSupervisor;
	readonly gateway: Gateway;
	readonly streams: StreamHub;
	/** Readiness goes 503 and new sessions are refused; nothing else stops yet. */
	drain(): void;
	/** Ends streams, flushes state, stops the engine and the gateway. */
	stop(): Promise<void>;
}

/** Builds the whole sidecar from its configuration; the engine starts in the background. */
export function createSidecar(
	config: Config,
	clock: Clock,
	log: Logger,
): Sidecar {
	mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
	const store = new SessionStore(config.stateDir);
	const gatewayToken = randomBytes(24).toString("base64url");
	let sessions: SessionManager | undefined;
	const gateway = startGateway({
		token: gatewayToken,
		resolve: async (engineSessionId) =>
			sessions?.resolveCredentials(engineSessionId),
		log: log.child({ component: "gateway" }),
	});
	const engine = new EngineSupervisor({
		bin: config.engineBin,
		workspaceDir: config.workspaceDir,
		engineDir: join(config.stateDir, "engine"),
		config: buildEngineConfig(gateway.url, gatewayToken),
		startTimeoutMs: config.engineStartTimeoutMs,
		log: log.child({ component: "engine" }),
		clock,
	});
	sessions = new SessionManager({
		config,
		store,
		engine,
		clock,
		log: log.child({ component: "sessions" }),
	});
	sessions.init();
	const streams = new StreamHub({
		heartbeatMs: config.heartbeatIntervalMs,
		maxQueuedBytes: config.streamBufferBytes,
		retryMs: 2000,
		clock,
	});
	let draining = false;
	const manager = sessions;
	const app = createApp({
		sessions: manager,
		streams,
		clock,
		log,
		maxBodyBytes: config.maxBodyBytes,
		sharedSecret: config.sharedSecret,
		version: VERSION,
		readiness: {
			workspaceDir: config.workspaceDir,
			stateDir: config.stateDir,
			draining: () => draining,
			engineProblem: async () => {
				if (!engine.ready) return engine.notReadyReason ?? "engine not ready";
				return (await engine.healthy())
					? undefined
					: "engine did not answer its health check";
			},
		},
	});
	engine.start();
	return {
		app,
		sessions: manager,
		engine,
		gateway,
		streams,
		drain() {
			draining = true;
			manager.close();
		},
		async stop() {
			draining = true;
			manager.close();
			streams.closeAll();
			await engine.stop();
			await gateway.stop();
		},
	};
}
