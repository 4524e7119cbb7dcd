import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { type Config, ConfigError, parseConfig } from "../../src/config/parse";
import { VARIABLES, type VariableName } from "../../src/config/variables";

const INSTALL = "/opt/sidecar";

/** Runs `parseConfig` and returns the ConfigError it throws. */
function configError(env: Record<string, string>): ConfigError {
	try {
		parseConfig(env, INSTALL);
	} catch (e) {
		if (e instanceof ConfigError) return e;
		throw e;
	}
	throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

/** How each variable's default shows up in the parsed config. */
const FIELDS: Partial<Record<VariableName, [keyof Config, (text: string) => unknown]>> = {
	WORKSPACE_DIR: ["workspaceDir", (t) => t],
	PORT: ["port", Number],
	HOST: ["host", (t) => t],
	ALLOWED_HOSTS: ["allowedHosts", () => []],
	LOG_LEVEL: ["logLevel", (t) => t],
	SESSION_TIMEOUT: ["sessionTimeoutMs", (t) => Number(t) * 1000],
	MAX_CONCURRENT_SESSIONS: ["maxConcurrentSessions", Number],
	OPENCODE_SHARED_SECRET: ["sharedSecret", () => undefined],
	CREDENTIALS_URL: ["credentialsUrl", (t) => t || undefined],
	CREDENTIALS_TIMEOUT: ["credentialsTimeoutMs", (t) => Number(t) * 1000],
	HEARTBEAT_INTERVAL: ["heartbeatIntervalMs", (t) => Number(t) * 1000],
	STATE_DIR: ["stateDir", (t) => t],
	OPENCODE_BIN: ["engineBin", (t) => t || join(INSTALL, "node_modules", "opencode-ai", "bin", "opencode.exe")],
	MAX_BODY_BYTES: ["maxBodyBytes", Number],
	STREAM_BUFFER_BYTES: ["streamBufferBytes", Number],
	HTTP_IDLE_TIMEOUT: ["httpIdleTimeoutSeconds", Number],
	QUESTION_TIMEOUT: ["questionTimeoutMs", (t) => Number(t) * 1000],
	PERMISSION_POLICY: ["permissionPolicy", (t) => t],
	PROVIDER_IDLE_TIMEOUT: ["providerIdleTimeoutMs", (t) => Number(t) * 1000],
	PROVIDER_MAX_RETRIES: ["providerMaxRetries", Number],
	RESUME_INTERRUPTED: ["resumeInterrupted", (t) => t === "true"],
	ENGINE_RSS_SOFT_LIMIT: ["engineRssSoftLimit", (t) => (t === "auto" ? undefined : Number(t) * 1024 * 1024)],
	ENGINE_RSS_HARD_LIMIT: ["engineRssHardLimit", (t) => (t === "auto" ? undefined : Number(t) * 1024 * 1024)],
	ENGINE_RECYCLE_GROWTH: ["engineRecycleGrowth", (t) => (t === "auto" ? undefined : Number(t) * 1024 * 1024)],
	ENGINE_RECYCLE_AFTER_RUNS: ["engineRecycleAfterRuns", Number],
	MEMORY_WARNING_PERCENT: ["memoryWarningPercent", Number],
	MAX_SUBSCRIBERS_PER_SESSION: ["maxSubscribersPerSession", Number],
	MAX_STORED_SESSIONS: ["maxStoredSessions", Number],
	WORKSPACE_GC_INTERVAL: ["workspaceGcIntervalMs", (t) => Number(t) * 1000],
	SHUTDOWN_DELAY: ["shutdownDelayMs", (t) => Number(t) * 1000],
	SHUTDOWN_TIMEOUT: ["shutdownTimeoutMs", (t) => Number(t) * 1000],
	ENGINE_START_TIMEOUT: ["engineStartTimeoutMs", (t) => Number(t) * 1000],
	ENGINE_CALL_TIMEOUT: ["engineCallTimeoutMs", (t) => Number(t) * 1000],
	ENGINE_HEALTH_INTERVAL: ["engineHealthIntervalMs", (t) => Number(t) * 1000],
	ENGINE_HEALTH_TIMEOUT: ["engineHealthTimeoutMs", (t) => Number(t) * 1000],
	ENGINE_HEALTH_FAILURES: ["engineHealthFailures", Number],
	ENGINE_EVENT_IDLE_TIMEOUT: ["engineEventIdleTimeoutMs", (t) => Number(t) * 1000],
	K8S_REPORTER: ["kubernetesReporter", (t) => t],
	POD_NAME: ["podName", (t) => t],
	HOSTNAME: ["hostName", (t) => t],
	POD_NAMESPACE: ["podNamespace", (t) => t],
	POD_UID: ["podUid", (t) => t],
	ENGINE_SEED_DIR: ["engineSeedDir", (t) => t || undefined],
};

describe("parseConfig defaults", () => {
	const config = parseConfig({}, INSTALL);

	it("uses the defaults listed in variables.ts", () => {
		const expected: Record<string, unknown> = {};
		for (const v of VARIABLES) {
			const field = FIELDS[v.name];
			if (!field) throw new Error(`test does not know variable ${v.name}`);
			expected[field[0]] = field[1](v.default ?? "");
		}
		expect(config).toEqual(expected as unknown as Config);
	});

	it("has the documented concrete defaults", () => {
		expect(config.port).toBe(3003);
		expect(config.workspaceDir).toBe("/workspace");
		expect(config.sessionTimeoutMs).toBe(3_600_000);
		expect(config.heartbeatIntervalMs).toBe(15_000);
		expect(config.logLevel).toBe("info");
	});

	it("treats empty and blank values as unset", () => {
		expect(parseConfig({ PORT: "", LOG_LEVEL: "   " }, INSTALL)).toEqual(config);
	});

	it("returns a frozen object", () => {
		expect(Object.isFrozen(config)).toBe(true);
		expect(() => {
			(config as { port: number }).port = 1;
		}).toThrow(TypeError);
		expect(config.port).toBe(3003);
	});

	it("describes every variable it reads", () => {
		for (const v of VARIABLES) expect(v.description.length).toBeGreaterThan(10);
	});
});

describe("parseConfig values", () => {
	it("reads every variable it is given", () => {
		const config = parseConfig(
			{
				WORKSPACE_DIR: "/work/tree/",
				PORT: " 8080 ",
				HOST: "127.0.0.1",
				ALLOWED_HOSTS: " Sidecar.Example , .svc.cluster.local,",
				LOG_LEVEL: "DEBUG",
				SESSION_TIMEOUT: "0.5",
				MAX_CONCURRENT_SESSIONS: "2",
				OPENCODE_SHARED_SECRET: "0123456789abcdef",
				CREDENTIALS_URL: "https://backend.tasks.svc/credentials",
				CREDENTIALS_TIMEOUT: "2.5",
				HEARTBEAT_INTERVAL: "0.25",
				STATE_DIR: "/var/state",
				OPENCODE_BIN: "/usr/local/bin/opencode",
				MAX_BODY_BYTES: "2048",
				STREAM_BUFFER_BYTES: "8192",
				HTTP_IDLE_TIMEOUT: "60",
				QUESTION_TIMEOUT: "1.5",
				PERMISSION_POLICY: "Reject",
				PROVIDER_IDLE_TIMEOUT: "30",
				PROVIDER_MAX_RETRIES: "2",
				RESUME_INTERRUPTED: "off",
				ENGINE_RSS_SOFT_LIMIT: "100",
				ENGINE_RSS_HARD_LIMIT: "0",
				ENGINE_RECYCLE_GROWTH: "64",
				ENGINE_RECYCLE_AFTER_RUNS: "20",
				MEMORY_WARNING_PERCENT: "75",
				MAX_SUBSCRIBERS_PER_SESSION: "3",
				MAX_STORED_SESSIONS: "10",
				WORKSPACE_GC_INTERVAL: "90",
				SHUTDOWN_DELAY: "0",
				SHUTDOWN_TIMEOUT: "2",
				ENGINE_START_TIMEOUT: "2.5",
				ENGINE_CALL_TIMEOUT: "4",
				ENGINE_HEALTH_INTERVAL: "0.5",
				ENGINE_HEALTH_TIMEOUT: "0.25",
				ENGINE_HEALTH_FAILURES: "2",
				ENGINE_EVENT_IDLE_TIMEOUT: "1.5",
				HOSTNAME: "task-pod-7",
			},
			INSTALL,
		);
		expect(config).toEqual({
			workspaceDir: "/work/tree",
			port: 8080,
			host: "127.0.0.1",
			allowedHosts: ["sidecar.example", ".svc.cluster.local"],
			logLevel: "debug",
			sessionTimeoutMs: 500,
			maxConcurrentSessions: 2,
			sharedSecret: "0123456789abcdef",
			credentialsUrl: "https://backend.tasks.svc/credentials",
			credentialsTimeoutMs: 2500,
			heartbeatIntervalMs: 250,
			stateDir: "/var/state",
			engineBin: "/usr/local/bin/opencode",
			maxBodyBytes: 2048,
			streamBufferBytes: 8192,
			httpIdleTimeoutSeconds: 60,
			questionTimeoutMs: 1500,
			permissionPolicy: "reject",
			providerIdleTimeoutMs: 30_000,
			providerMaxRetries: 2,
			resumeInterrupted: false,
			engineRssSoftLimit: 100 * 1024 * 1024,
			engineRssHardLimit: 0,
			engineRecycleGrowth: 64 * 1024 * 1024,
			engineRecycleAfterRuns: 20,
			memoryWarningPercent: 75,
			maxSubscribersPerSession: 3,
			maxStoredSessions: 10,
			workspaceGcIntervalMs: 90_000,
			shutdownDelayMs: 0,
			shutdownTimeoutMs: 2000,
			engineStartTimeoutMs: 2500,
			engineCallTimeoutMs: 4000,
			engineHealthIntervalMs: 500,
			engineHealthTimeoutMs: 250,
			engineHealthFailures: 2,
			engineEventIdleTimeoutMs: 1500,
			kubernetesReporter: "auto",
			podName: "",
			hostName: "task-pod-7",
			podNamespace: "",
			podUid: "",
			engineSeedDir: undefined,
		});
	});

	it("accepts port 0 (any free port)", () => {
		expect(parseConfig({ PORT: "0" }, INSTALL).port).toBe(0);
	});

	it("accepts a state directory next to, not inside, the workspace", () => {
		expect(parseConfig({ WORKSPACE_DIR: "/data/ws", STATE_DIR: "/data/ws-state" }, INSTALL).stateDir).toBe(
			"/data/ws-state",
		);
	});
});

describe("parseConfig rejects bad values with an error naming the variable", () => {
	it.each<[string, Record<string, string>, VariableName]>([
		["a non-number PORT", { PORT: "eighty" }, "PORT"],
		["a fractional PORT", { PORT: "80.5" }, "PORT"],
		["PORT 70000", { PORT: "70000" }, "PORT"],
		["a negative PORT", { PORT: "-1" }, "PORT"],
		["LOG_LEVEL=verbose", { LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
		["a relative WORKSPACE_DIR", { WORKSPACE_DIR: "workspace" }, "WORKSPACE_DIR"],
		["a relative STATE_DIR", { STATE_DIR: "./state" }, "STATE_DIR"],
		["STATE_DIR inside WORKSPACE_DIR", { WORKSPACE_DIR: "/workspace", STATE_DIR: "/workspace/.sidecar" }, "STATE_DIR"],
		["STATE_DIR equal to WORKSPACE_DIR", { WORKSPACE_DIR: "/workspace", STATE_DIR: "/workspace/" }, "STATE_DIR"],
		[
			"STATE_DIR inside WORKSPACE_DIR through ..",
			{ WORKSPACE_DIR: "/workspace", STATE_DIR: "/tmp/../workspace/state" },
			"STATE_DIR",
		],
		[
			"STATE_DIR inside WORKSPACE_DIR in a directory whose name starts with ..",
			{ WORKSPACE_DIR: "/workspace", STATE_DIR: "/workspace/..state" },
			"STATE_DIR",
		],
		["SESSION_TIMEOUT=0", { SESSION_TIMEOUT: "0" }, "SESSION_TIMEOUT"],
		["a non-number SESSION_TIMEOUT", { SESSION_TIMEOUT: "1h" }, "SESSION_TIMEOUT"],
		["MAX_CONCURRENT_SESSIONS=0", { MAX_CONCURRENT_SESSIONS: "0" }, "MAX_CONCURRENT_SESSIONS"],
		["HEARTBEAT_INTERVAL=Infinity", { HEARTBEAT_INTERVAL: "Infinity" }, "HEARTBEAT_INTERVAL"],
		["a tiny MAX_BODY_BYTES", { MAX_BODY_BYTES: "10" }, "MAX_BODY_BYTES"],
		["a tiny STREAM_BUFFER_BYTES", { STREAM_BUFFER_BYTES: "100" }, "STREAM_BUFFER_BYTES"],
		["HTTP_IDLE_TIMEOUT=256", { HTTP_IDLE_TIMEOUT: "256" }, "HTTP_IDLE_TIMEOUT"],
		["ENGINE_START_TIMEOUT=0", { ENGINE_START_TIMEOUT: "0" }, "ENGINE_START_TIMEOUT"],
		["a short OPENCODE_SHARED_SECRET", { OPENCODE_SHARED_SECRET: "short-secret" }, "OPENCODE_SHARED_SECRET"],
		[
			"CREDENTIALS_URL without OPENCODE_SHARED_SECRET",
			{ CREDENTIALS_URL: "http://backend.tasks.svc:8080/credentials" },
			"OPENCODE_SHARED_SECRET",
		],
		[
			"a CREDENTIALS_URL that is not http(s)",
			{ CREDENTIALS_URL: "backend:8080", OPENCODE_SHARED_SECRET: "0123456789abcdef" },
			"CREDENTIALS_URL",
		],
		["CREDENTIALS_TIMEOUT=0", { CREDENTIALS_TIMEOUT: "0" }, "CREDENTIALS_TIMEOUT"],
		["ALLOWED_HOSTS with a port", { ALLOWED_HOSTS: "sidecar.example:3003" }, "ALLOWED_HOSTS"],
		["ALLOWED_HOSTS with a scheme", { ALLOWED_HOSTS: "http://sidecar.example" }, "ALLOWED_HOSTS"],
		["ALLOWED_HOSTS with a wildcard", { ALLOWED_HOSTS: "*" }, "ALLOWED_HOSTS"],
		["ALLOWED_HOSTS with a bare dot", { ALLOWED_HOSTS: "a.example,." }, "ALLOWED_HOSTS"],
	])("%s", (_label, env, variable) => {
		const error = configError(env);
		expect(error.name).toBe("ConfigError");
		expect(error.variable).toBe(variable);
		expect(error.message.startsWith(`${variable}: `)).toBe(true);
	});

	it("does not quote the secret in its error", () => {
		const error = configError({ OPENCODE_SHARED_SECRET: "tiny-SENTINEL" });
		expect(error.message).not.toContain("tiny-SENTINEL");
	});

	it("quotes the bad value for ordinary variables", () => {
		expect(configError({ PORT: "eighty" }).message).toContain('"eighty"');
		expect(configError({ LOG_LEVEL: "verbose" }).message).toContain("verbose");
	});
});

describe("the configuration layer", () => {
	it("imports nothing from src/k8s, directly or through another module", () => {
		const src = join(import.meta.dir, "../../src");
		const seen = new Set<string>();
		const visit = (file: string) => {
			if (seen.has(file)) return;
			seen.add(file);
			// Type-only imports count too: they tie the layers together as much as values do.
			for (const [, path = ""] of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
				const target = join(dirname(file), path);
				visit(target.endsWith(".ts") ? target : `${target}.ts`);
			}
		};
		for (const f of ["parse.ts", "variables.ts", "kinds.ts", "table.ts"]) visit(join(src, "config", f));
		expect(seen.size).toBeGreaterThan(3);
		for (const file of seen) expect(relative(src, file).startsWith("k8s")).toBe(false);
	});

	it("declares each variable once, with one Config key each, and every default parses", () => {
		expect(new Set(VARIABLES.map((v) => v.name)).size).toBe(VARIABLES.length);
		expect(new Set(VARIABLES.map((v) => v.key)).size).toBe(VARIABLES.length);
		for (const v of VARIABLES) {
			expect(v.kind.accepts.length).toBeGreaterThan(2);
			expect(() => v.kind.parse(v.default ?? "", { installDir: INSTALL })).not.toThrow();
		}
		expect(Object.keys(parseConfig({}, INSTALL)).sort()).toEqual(VARIABLES.map((v) => v.key).sort());
	});
});
