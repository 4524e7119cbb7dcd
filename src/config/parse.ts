import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { REPORTER_MODES, type ReporterMode } from "../k8s/cluster";
import { VARIABLES, type VariableName } from "./variables";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** The sidecar's configuration: parsed once at start, then frozen. */
export interface Config {
	readonly workspaceDir: string;
	readonly port: number;
	readonly host: string;
	readonly logLevel: LogLevel;
	readonly sessionTimeoutMs: number;
	readonly maxConcurrentSessions: number;
	readonly sharedSecret: string | undefined;
	/** The backend's credentials endpoint (CREDENTIALS_URL); undefined: keys come only with requests. */
	readonly credentialsUrl: string | undefined;
	readonly credentialsTimeoutMs: number;
	readonly heartbeatIntervalMs: number;
	readonly stateDir: string;
	readonly engineBin: string;
	readonly maxBodyBytes: number;
	readonly streamBufferBytes: number;
	readonly engineStartTimeoutMs: number;
	readonly engineCallTimeoutMs: number;
	/** The engine watchdog (see engine/supervisor.ts). */
	readonly engineHealthIntervalMs: number;
	readonly engineHealthTimeoutMs: number;
	readonly engineHealthFailures: number;
	/** No byte on the engine's event feed for this long reconnects it. */
	readonly engineEventIdleTimeoutMs: number;
	/** The Kubernetes reporter (src/k8s/): when to run it and which pod it reports on. */
	readonly kubernetesReporter: ReporterMode;
	readonly podName: string;
	readonly podNamespace: string;
	readonly podUid: string;
	/** Pre-installed engine dependencies to link into the engine's config directory (the image sets it). */
	readonly engineSeedDir: string | undefined;
	readonly httpIdleTimeoutSeconds: number;
	readonly questionTimeoutMs: number;
	readonly permissionPolicy: PermissionPolicy;
	readonly providerIdleTimeoutMs: number;
	readonly providerMaxRetries: number;
	readonly resumeInterrupted: boolean;
	/** Bytes; 0 = never. */
	readonly engineRssSoftLimit: number;
	/** Bytes; 0 = never. */
	readonly engineRssHardLimit: number;
	readonly maxSubscribersPerSession: number;
	readonly maxStoredSessions: number;
	readonly shutdownDelayMs: number;
	readonly shutdownTimeoutMs: number;
}

export type PermissionPolicy = "workspace" | "allow" | "reject";
const PERMISSION_POLICIES: readonly PermissionPolicy[] = ["workspace", "allow", "reject"];

/** Raised for a variable that cannot be used; the message names it. */
export class ConfigError extends Error {
	constructor(
		readonly variable: VariableName,
		reason: string,
	) {
		super(`${variable}: ${reason}`);
		this.name = "ConfigError";
	}
}

type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: VariableName): string | undefined {
	const value = env[name];
	if (value !== undefined && value.trim() !== "") return value.trim();
	return VARIABLES.find((v) => v.name === name)?.default;
}

function required(env: Env, name: VariableName): string {
	const value = raw(env, name);
	if (value === undefined) throw new ConfigError(name, "is required");
	return value;
}

function number(env: Env, name: VariableName, opts: { min: number; max: number; integer: boolean }): number {
	const text = required(env, name);
	const value = Number(text);
	if (!Number.isFinite(value) || (opts.integer && !Number.isInteger(value))) {
		throw new ConfigError(name, `must be ${opts.integer ? "a whole number" : "a number"}, got "${text}"`);
	}
	if (value < opts.min || value > opts.max) {
		throw new ConfigError(name, `must be between ${opts.min} and ${opts.max}, got ${value}`);
	}
	return value;
}

function absoluteDir(env: Env, name: VariableName): string {
	const value = required(env, name);
	if (!isAbsolute(value)) throw new ConfigError(name, `must be an absolute path, got "${value}"`);
	return resolve(value);
}

const MIB = 1024 * 1024;

function seconds(env: Env, name: VariableName, min: number, max: number): number {
	return Math.round(number(env, name, { min, max, integer: false }) * 1000);
}

function bool(env: Env, name: VariableName): boolean {
	const text = required(env, name).toLowerCase();
	if (["true", "1", "yes", "on"].includes(text)) return true;
	if (["false", "0", "no", "off"].includes(text)) return false;
	throw new ConfigError(name, `must be true or false, got "${text}"`);
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

function kubernetesSettings(env: Env) {
	const mode = required(env, "K8S_REPORTER").toLowerCase();
	if (!REPORTER_MODES.includes(mode as ReporterMode)) {
		throw new ConfigError("K8S_REPORTER", `must be one of ${REPORTER_MODES.join(", ")}, got "${mode}"`);
	}
	const podName = raw(env, "POD_NAME") ?? "";
	if (mode === "on" && !podName) {
		throw new ConfigError("POD_NAME", "is required when K8S_REPORTER is on (downward API metadata.name)");
	}
	const seed = raw(env, "ENGINE_SEED_DIR");
	if (seed && !isAbsolute(seed)) {
		throw new ConfigError("ENGINE_SEED_DIR", `must be an absolute path, got "${seed}"`);
	}
	return {
		kubernetesReporter: mode as ReporterMode,
		podName,
		podNamespace: raw(env, "POD_NAMESPACE") ?? "",
		podUid: raw(env, "POD_UID") ?? "",
		engineSeedDir: seed ? resolve(seed) : undefined,
	};
}

/**
 * Parses the environment. Throws `ConfigError` naming the first bad variable.
 * `installDir` is where the sidecar's own `node_modules` lives, used for the
 * default engine binary.
 */
export function parseConfig(env: Env, installDir: string): Config {
	const workspaceDir = absoluteDir(env, "WORKSPACE_DIR");
	const stateDir = absoluteDir(env, "STATE_DIR");
	const inside = relative(workspaceDir, stateDir);
	if (inside === "" || (inside !== ".." && !inside.startsWith(`..${sep}`) && !isAbsolute(inside))) {
		throw new ConfigError("STATE_DIR", "must not be inside WORKSPACE_DIR (the agent would see and commit it)");
	}
	const logLevel = required(env, "LOG_LEVEL").toLowerCase();
	if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
		throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
	}
	const secret = env.OPENCODE_SHARED_SECRET;
	if (secret !== undefined && secret !== "" && secret.length < 16) {
		throw new ConfigError("OPENCODE_SHARED_SECRET", "must be at least 16 characters when set");
	}
	const credentialsUrl = raw(env, "CREDENTIALS_URL") || undefined;
	if (credentialsUrl !== undefined) {
		let url: URL | undefined;
		try {
			url = new URL(credentialsUrl);
		} catch {
			url = undefined;
		}
		if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
			throw new ConfigError("CREDENTIALS_URL", "must be an http:// or https:// URL");
		}
		if (secret === undefined || secret === "") {
			throw new ConfigError(
				"OPENCODE_SHARED_SECRET",
				"is required when CREDENTIALS_URL is set (it is the bearer token sent to the endpoint)",
			);
		}
	}
	const permissionPolicy = required(env, "PERMISSION_POLICY").toLowerCase();
	if (!PERMISSION_POLICIES.includes(permissionPolicy as PermissionPolicy)) {
		throw new ConfigError(
			"PERMISSION_POLICY",
			`must be one of ${PERMISSION_POLICIES.join(", ")}, got "${permissionPolicy}"`,
		);
	}
	const engineBin = raw(env, "OPENCODE_BIN") || join(installDir, "node_modules", ".bin", "opencode");
	return Object.freeze({
		workspaceDir,
		...kubernetesSettings(env),
		port: number(env, "PORT", { min: 0, max: 65535, integer: true }),
		host: required(env, "HOST"),
		logLevel: logLevel as LogLevel,
		// Fractions are allowed so tests can use short timeouts.
		sessionTimeoutMs: Math.round(
			number(env, "SESSION_TIMEOUT", {
				min: 0.1,
				max: 7 * 24 * 3600,
				integer: false,
			}) * 1000,
		),
		maxConcurrentSessions: number(env, "MAX_CONCURRENT_SESSIONS", {
			min: 1,
			max: 1000,
			integer: true,
		}),
		sharedSecret: secret === undefined || secret === "" ? undefined : secret,
		credentialsUrl,
		credentialsTimeoutMs: seconds(env, "CREDENTIALS_TIMEOUT", 0.1, 600),
		heartbeatIntervalMs: Math.round(
			number(env, "HEARTBEAT_INTERVAL", {
				min: 0.05,
				max: 3600,
				integer: false,
			}) * 1000,
		),
		stateDir,
		engineBin: resolve(engineBin),
		maxBodyBytes: number(env, "MAX_BODY_BYTES", {
			min: 1024,
			max: 64 * 1024 * 1024,
			integer: true,
		}),
		streamBufferBytes: number(env, "STREAM_BUFFER_BYTES", {
			min: 4096,
			max: 256 * 1024 * 1024,
			integer: true,
		}),
		questionTimeoutMs: Math.round(
			number(env, "QUESTION_TIMEOUT", {
				min: 0.1,
				max: 24 * 3600,
				integer: false,
			}) * 1000,
		),
		permissionPolicy: permissionPolicy as PermissionPolicy,
		providerIdleTimeoutMs: seconds(env, "PROVIDER_IDLE_TIMEOUT", 0.1, 24 * 3600),
		providerMaxRetries: number(env, "PROVIDER_MAX_RETRIES", { min: 0, max: 1000, integer: true }),
		resumeInterrupted: bool(env, "RESUME_INTERRUPTED"),
		engineRssSoftLimit: number(env, "ENGINE_RSS_SOFT_LIMIT", { min: 0, max: 1_048_576, integer: true }) * MIB,
		engineRssHardLimit: number(env, "ENGINE_RSS_HARD_LIMIT", { min: 0, max: 1_048_576, integer: true }) * MIB,
		maxSubscribersPerSession: number(env, "MAX_SUBSCRIBERS_PER_SESSION", { min: 1, max: 100_000, integer: true }),
		maxStoredSessions: number(env, "MAX_STORED_SESSIONS", { min: 1, max: 1_000_000, integer: true }),
		engineCallTimeoutMs: seconds(env, "ENGINE_CALL_TIMEOUT", 0.1, 600),
		engineHealthIntervalMs: seconds(env, "ENGINE_HEALTH_INTERVAL", 0.05, 3600),
		engineHealthTimeoutMs: seconds(env, "ENGINE_HEALTH_TIMEOUT", 0.05, 600),
		engineHealthFailures: number(env, "ENGINE_HEALTH_FAILURES", { min: 1, max: 1000, integer: true }),
		engineEventIdleTimeoutMs: seconds(env, "ENGINE_EVENT_IDLE_TIMEOUT", 0.05, 3600),
		shutdownDelayMs: seconds(env, "SHUTDOWN_DELAY", 0, 600),
		shutdownTimeoutMs: seconds(env, "SHUTDOWN_TIMEOUT", 1, 3600),
		httpIdleTimeoutSeconds: number(env, "HTTP_IDLE_TIMEOUT", {
			min: 1,
			max: 255,
			integer: true,
		}),
		engineStartTimeoutMs: Math.round(
			number(env, "ENGINE_START_TIMEOUT", {
				min: 1,
				max: 600,
				integer: false,
			}) * 1000,
		),
	});
}
