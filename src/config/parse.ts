import { isAbsolute, join, relative, resolve, sep } from "node:path";
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
	readonly heartbeatIntervalMs: number;
	readonly stateDir: string;
	readonly engineBin: string;
	readonly maxBodyBytes: number;
	readonly streamBufferBytes: number;
	readonly engineStartTimeoutMs: number;
	readonly httpIdleTimeoutSeconds: number;
	readonly questionTimeoutMs: number;
	readonly permissionPolicy: PermissionPolicy;
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

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

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
