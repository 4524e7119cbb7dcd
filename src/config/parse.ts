import { isAbsolute, relative, sep } from "node:path";
import { Invalid, type ParseContext } from "./kinds";
import { VARIABLES, type Variable, type VariableName } from "./variables";

type Declared = (typeof VARIABLES)[number];

/** The sidecar's configuration: one field per variable in variables.ts, parsed once at start, then frozen. */
export type Config = {
	readonly [V in Declared as V["key"]]: V extends Variable<string, string, infer T> ? T : never;
};

export type LogLevel = Config["logLevel"];
export type PermissionPolicy = Config["permissionPolicy"];

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

/** The variable's text: as set (trimmed unless its kind is raw), or its default when unset or blank. */
function textOf(env: Env, v: Declared): string {
	const given = env[v.name];
	const value = v.kind.raw ? given : given?.trim();
	return value === undefined || value === "" ? (v.default ?? "") : value;
}

/** Rules that tie variables together; each names the variable to blame. */
const CHECKS: readonly ((c: Config) => [VariableName, string] | undefined)[] = [
	(c) => {
		const inside = relative(c.workspaceDir, c.stateDir);
		const within = inside === "" || (inside !== ".." && !inside.startsWith(`..${sep}`) && !isAbsolute(inside));
		return within ? ["STATE_DIR", "must not be inside WORKSPACE_DIR (the agent would see and commit it)"] : undefined;
	},
	(c) =>
		c.credentialsUrl !== undefined && c.sharedSecret === undefined
			? [
					"OPENCODE_SHARED_SECRET",
					"is required when CREDENTIALS_URL is set (it is the bearer token sent to the endpoint)",
				]
			: undefined,
	(c) =>
		c.kubernetesReporter === "on" && !c.podName
			? ["POD_NAME", "is required when K8S_REPORTER is on (downward API metadata.name)"]
			: undefined,
];

/**
 * Parses the environment. Throws `ConfigError` naming the first bad variable.
 * `installDir` is where the sidecar's own `node_modules` lives, used for the
 * default engine binary.
 */
export function parseConfig(env: Env, installDir: string): Config {
	const context: ParseContext = { installDir };
	const config: Record<string, unknown> = {};
	for (const v of VARIABLES) {
		try {
			config[v.key] = v.kind.parse(textOf(env, v), context);
		} catch (error) {
			if (error instanceof Invalid) throw new ConfigError(v.name, error.message);
			throw error;
		}
	}
	const parsed = config as Config;
	for (const check of CHECKS) {
		const problem = check(parsed);
		if (problem) throw new ConfigError(...problem);
	}
	return Object.freeze(parsed);
}
