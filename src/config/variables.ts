import {
	absolutePath,
	engineBinary,
	flag,
	hostNames,
	type Kind,
	mebibytesOrAuto,
	oneOf,
	optionalAbsolutePath,
	optionalHttpUrl,
	seconds,
	secret,
	text,
	wholeNumber,
} from "./kinds";

/**
 * One environment variable: its name, the `Config` field it fills, its
 * default (as it would be written in the environment; undefined: unset),
 * what it means and how its text is parsed and bounded (`kind`).
 */
export interface Variable<N extends string = string, K extends string = string, T = unknown> {
	readonly name: N;
	readonly key: K;
	readonly default: string | undefined;
	readonly description: string;
	readonly kind: Kind<T>;
}

const declare = <const N extends string, const K extends string, T>(v: Variable<N, K, T>): Variable<N, K, T> => v;

/**
 * Every environment variable the sidecar reads, declared once: `parseConfig`
 * (parse.ts) parses them, `Config` is their `key`s with their kinds' types,
 * and the README's configuration table is generated from them
 * (`npm run docs:config`; test/unit/docs.test.ts checks the README matches).
 * Adding a variable is adding one entry here.
 */
export const VARIABLES = [
	declare({
		name: "WORKSPACE_DIR",
		key: "workspaceDir",
		kind: absolutePath,
		default: "/workspace",
		description: "The agent's working tree (the shared workspace volume).",
	}),
	declare({
		name: "PORT",
		key: "port",
		kind: wholeNumber(0, 65535),
		default: "3003",
		description: "HTTP port, bound on every interface (`0`: any free port, logged at start).",
	}),
	declare({
		name: "HOST",
		key: "host",
		kind: text,
		default: "0.0.0.0",
		description: "Interface to bind. The engine and the credential gateway always stay on 127.0.0.1.",
	}),
	declare({
		name: "ALLOWED_HOSTS",
		key: "allowedHosts",
		kind: hostNames,
		default: "",
		description:
			"Names the sidecar answers to besides IP addresses, `localhost` and the pod's name (`POD_NAME`, `HOSTNAME`): a request with any other `Host` gets 421 (DNS rebinding). Comma-separated; an entry starting with a dot is a suffix, e.g. `.svc.cluster.local` for a backend that calls through a Service (use only suffixes that only your cluster resolves).",
	}),
	declare({
		name: "LOG_LEVEL",
		key: "logLevel",
		kind: oneOf(["debug", "info", "warn", "error"]),
		default: "info",
		description: "`debug`, `info`, `warn` or `error`. JSON lines on stdout.",
	}),
	declare({
		name: "SESSION_TIMEOUT",
		key: "sessionTimeoutMs",
		kind: seconds(0.1, 7 * 24 * 3600),
		default: "3600",
		description: "Longest a run may take, in seconds, before it is aborted with a terminal `timeout` error.",
	}),
	declare({
		name: "MAX_CONCURRENT_SESSIONS",
		key: "maxConcurrentSessions",
		kind: wholeNumber(1, 1000),
		default: "5",
		description: "Runs in progress at once; further `POST /sessions` get 503 with `Retry-After`.",
	}),
	declare({
		name: "OPENCODE_SHARED_SECRET",
		key: "sharedSecret",
		kind: secret(16),
		default: undefined,
		description: "When set, every `/sessions` route needs `Authorization: Bearer <secret>`. Probes stay open.",
	}),
	declare({
		name: "CREDENTIALS_URL",
		key: "credentialsUrl",
		kind: optionalHttpUrl,
		default: "",
		description:
			"The backend's credentials endpoint (see API_CONTRACT.md, Credentials source). When set, the sidecar asks it for a session's key after a restart (interrupted runs resume on their own) and once after a provider 401. Requires `OPENCODE_SHARED_SECRET`, sent as the bearer token. Empty: never asked.",
	}),
	declare({
		name: "CREDENTIALS_TIMEOUT",
		key: "credentialsTimeoutMs",
		kind: seconds(0.1, 600),
		default: "10",
		description:
			"Seconds one request to `CREDENTIALS_URL` may take; then the run waiting for the key ends `failed` with code `interrupted`.",
	}),
	declare({
		name: "HEARTBEAT_INTERVAL",
		key: "heartbeatIntervalMs",
		kind: seconds(0.05, 3600),
		default: "15",
		description: "Seconds between `heartbeat` events on an open stream.",
	}),
	declare({
		name: "STATE_DIR",
		key: "stateDir",
		kind: absolutePath,
		default: "/var/lib/opencode-sidecar",
		description:
			"The sidecar's durable data: session records and event logs (authenticated, see SECURITY.md) and the engine's database. The engine's home and configuration are not kept here: they are rebuilt under `TMPDIR` at each engine start. Must not be inside `WORKSPACE_DIR`.",
	}),
	declare({
		name: "OPENCODE_BIN",
		key: "engineBin",
		kind: engineBinary,
		default: "",
		description:
			"Path of the `opencode` engine binary. Empty: OpenCode 1.18 as installed with the sidecar (`node_modules/opencode-ai/bin/opencode.exe`; OpenCode 2.x is `node_modules/@opencode/cli/bin/opencode.exe`). Its `--version` is read at start: a version outside the supported ranges (README, How it works, Engines) exits 78.",
	}),
	declare({
		name: "MAX_BODY_BYTES",
		key: "maxBodyBytes",
		kind: wholeNumber(1024, 64 * 1024 * 1024),
		default: "1048576",
		description: "Largest accepted request body; larger ones get 413.",
	}),
	declare({
		name: "STREAM_BUFFER_BYTES",
		key: "streamBufferBytes",
		kind: wholeNumber(4096, 256 * 1024 * 1024),
		default: "1048576",
		description:
			"Bytes queued for one SSE subscriber before it is judged too slow and disconnected (it resumes with `Last-Event-ID`).",
	}),
	declare({
		name: "HTTP_IDLE_TIMEOUT",
		key: "httpIdleTimeoutSeconds",
		kind: wholeNumber(1, 255),
		default: "30",
		description:
			"Seconds an idle keep-alive connection is kept open (1-255). SSE streams are exempt; heartbeats keep proxies on the path awake.",
	}),
	declare({
		name: "QUESTION_TIMEOUT",
		key: "questionTimeoutMs",
		kind: seconds(0.1, 24 * 3600),
		default: "300",
		description:
			"Seconds a question from the agent waits for `POST /sessions/{id}/questions/{question_id}` before it is answered with its default option.",
	}),
	declare({
		name: "PERMISSION_POLICY",
		key: "permissionPolicy",
		kind: oneOf(["workspace", "allow", "reject"]),
		default: "workspace",
		description:
			"How the agent's permission requests are answered: `workspace` (allow inside `WORKSPACE_DIR`, reject outside it and repeated identical calls), `allow` (allow everything), `reject` (reject everything asked).",
	}),
	declare({
		name: "PROVIDER_IDLE_TIMEOUT",
		key: "providerIdleTimeoutMs",
		kind: seconds(0.1, 24 * 3600),
		default: "120",
		description:
			"Seconds an LLM call may go without receiving a byte from the provider; then the run fails with code `provider_timeout`. Keep it below `SESSION_TIMEOUT`.",
	}),
	declare({
		name: "PROVIDER_MAX_RETRIES",
		key: "providerMaxRetries",
		kind: wholeNumber(0, 1000),
		default: "6",
		description:
			"Retries the engine may make for one run after rate limits (429) or provider errors (5xx); one more fails the run instead of retrying forever.",
	}),
	declare({
		name: "RESUME_INTERRUPTED",
		key: "resumeInterrupted",
		kind: flag,
		default: "true",
		description:
			"`true`: a run cut short by an engine restart resumes in the same engine session. `false`: it ends `failed` with code `interrupted`.",
	}),
	declare({
		name: "ENGINE_RSS_SOFT_LIMIT",
		key: "engineRssSoftLimit",
		kind: mebibytesOrAuto(0, 1_048_576),
		default: "auto",
		description:
			"MiB of engine memory above which the engine is recycled as soon as no run is in progress (0: never). `auto`: half the container's memory limit (cgroup `memory.max`), 700 without one.",
	}),
	declare({
		name: "ENGINE_RSS_HARD_LIMIT",
		key: "engineRssHardLimit",
		kind: mebibytesOrAuto(0, 1_048_576),
		default: "auto",
		description:
			"MiB of engine memory above which the engine is recycled at once; its runs resume (0: never). `auto`: three quarters of the container's memory limit, 900 without one.",
	}),
	declare({
		name: "ENGINE_RECYCLE_GROWTH",
		key: "engineRecycleGrowth",
		kind: mebibytesOrAuto(0, 1_048_576),
		default: "auto",
		description:
			"MiB the engine may grow above its own size at rest (read after its warm-up) before it is recycled as soon as no run is in progress (0: never). `auto`: an eighth of the container's memory limit, 0 without one.",
	}),
	declare({
		name: "ENGINE_RECYCLE_AFTER_RUNS",
		key: "engineRecycleAfterRuns",
		kind: wholeNumber(0, 1_000_000),
		default: "0",
		description:
			"Runs an engine process serves before it is recycled as soon as no run is in progress (0: never). A recycle costs the next run the engine's start (see bench/RESULTS.md, `envelope.recycle_cost`).",
	}),
	declare({
		name: "MEMORY_WARNING_PERCENT",
		key: "memoryWarningPercent",
		kind: wholeNumber(0, 100),
		default: "90",
		description:
			"Percent of the container's memory limit (cgroup `memory.max`) above which running sessions with a tool in progress get a non-fatal `error` `memory_pressure`, sampled every 5 s while runs are in progress (0: never; no limit: never).",
	}),
	declare({
		name: "MAX_SUBSCRIBERS_PER_SESSION",
		key: "maxSubscribersPerSession",
		kind: wholeNumber(1, 100_000),
		default: "200",
		description: "Open SSE streams one session may have; one more gets 503 with `Retry-After`.",
	}),
	declare({
		name: "MAX_STORED_SESSIONS",
		key: "maxStoredSessions",
		kind: wholeNumber(1, 1_000_000),
		default: "500",
		description:
			"Ended sessions kept in `STATE_DIR` (oldest removed first, with the engine's copy); running sessions are never removed.",
	}),
	declare({
		name: "WORKSPACE_GC_INTERVAL",
		key: "workspaceGcIntervalMs",
		kind: seconds(0, 604_800),
		default: "3600",
		description:
			"Seconds between collections of the private snapshot repository in `STATE_DIR` (objects of removed sessions and past runs), run after old sessions are removed; `0`: never.",
	}),
	declare({
		name: "SHUTDOWN_DELAY",
		key: "shutdownDelayMs",
		kind: seconds(0, 600),
		default: "5",
		description:
			"Seconds between SIGTERM (readiness 503, no new sessions) and closing streams, so the pod leaves Service endpoints first.",
	}),
	declare({
		name: "SHUTDOWN_TIMEOUT",
		key: "shutdownTimeoutMs",
		kind: seconds(1, 3600),
		default: "20",
		description:
			"Seconds after SIGTERM by which the process exits whatever remains (keep below terminationGracePeriodSeconds).",
	}),
	declare({
		name: "ENGINE_START_TIMEOUT",
		key: "engineStartTimeoutMs",
		kind: seconds(1, 600),
		default: "30",
		description:
			"Seconds each step of the engine's start may take (listening; its event feed connected; its warm-up run) before the attempt fails with an error naming the step (a slow warm-up is only a warning); also bounds `OPENCODE_BIN --version` at start.",
	}),
	declare({
		name: "ENGINE_CALL_TIMEOUT",
		key: "engineCallTimeoutMs",
		kind: seconds(0.1, 600),
		default: "10",
		description:
			"Seconds one call to the engine (create a session, send a prompt, abort) may take; a run whose start times out ends `failed` with code `engine_unavailable`.",
	}),
	declare({
		name: "ENGINE_HEALTH_INTERVAL",
		key: "engineHealthIntervalMs",
		kind: seconds(0.05, 3600),
		default: "5",
		description:
			"Seconds between the watchdog's health checks of the engine (`GET /global/health`), once it has warmed up.",
	}),
	declare({
		name: "ENGINE_HEALTH_TIMEOUT",
		key: "engineHealthTimeoutMs",
		kind: seconds(0.05, 600),
		default: "3",
		description: "Seconds one health check may take before it counts as failed.",
	}),
	declare({
		name: "ENGINE_HEALTH_FAILURES",
		key: "engineHealthFailures",
		kind: wholeNumber(1, 1000),
		default: "3",
		description:
			"Consecutive failed health checks after which the engine is recycled (SIGTERM, SIGKILL 2 s later) and its runs resume in a new one. With the defaults a hung engine is replaced within about 20 s.",
	}),
	declare({
		name: "ENGINE_EVENT_IDLE_TIMEOUT",
		key: "engineEventIdleTimeoutMs",
		kind: seconds(0.05, 3600),
		default: "30",
		description:
			"Seconds the engine's event feed may go without a byte (the engine sends a heartbeat every 10 s) before it is reconnected and every running session reconciled from the engine's state.",
	}),
	declare({
		name: "K8S_REPORTER",
		key: "kubernetesReporter",
		kind: oneOf(["auto", "on", "off"]),
		default: "auto",
		description:
			"Session lifecycle as Kubernetes Events and a pod annotation. `auto`: when a service-account token is mounted and `POD_NAME` is set; `on`: always (requires `POD_NAME`); `off`: never.",
	}),
	declare({
		name: "POD_NAME",
		key: "podName",
		kind: text,
		default: "",
		description: "This pod's name (downward API `metadata.name`), for the Kubernetes reporter.",
	}),
	declare({
		name: "HOSTNAME",
		key: "hostName",
		kind: text,
		default: "",
		description:
			"Set by Kubernetes to the pod's name (do not set it yourself); accepted as `Host`, like `POD_NAME` (see `ALLOWED_HOSTS`).",
	}),
	declare({
		name: "POD_NAMESPACE",
		key: "podNamespace",
		kind: text,
		default: "",
		description: "This pod's namespace (downward API `metadata.namespace`). Empty: the service account's namespace.",
	}),
	declare({
		name: "POD_UID",
		key: "podUid",
		kind: text,
		default: "",
		description:
			"This pod's uid (downward API `metadata.uid`), so `kubectl describe pod` lists the reporter's Events. Empty: read from the API.",
	}),
	declare({
		name: "ENGINE_SEED_DIR",
		key: "engineSeedDir",
		kind: optionalAbsolutePath,
		default: "",
		description:
			"Engine dependencies pre-installed in the image, linked into the engine's config directory at start so the engine installs nothing. Set by the image.",
	}),
] as const;

export type VariableName = (typeof VARIABLES)[number]["name"];
