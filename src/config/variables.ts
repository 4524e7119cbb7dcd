/**
 * Every environment variable the sidecar reads, with its default and meaning.
 * This table is the single source for parsing (see `parse.ts`) and for the
 * README's configuration table (a test keeps the two in step).
 */
export interface VariableSpec {
	readonly name: string;
	readonly default: string | undefined;
	readonly description: string;
}

export const VARIABLES = [
	{
		name: "WORKSPACE_DIR",
		default: "/workspace",
		description: "The agent's working tree (the shared workspace volume).",
	},
	{
		name: "PORT",
		default: "3003",
		description: "HTTP port, bound on every interface (`0`: any free port, logged at start).",
	},
	{
		name: "HOST",
		default: "0.0.0.0",
		description: "Interface to bind. The engine and the credential gateway always stay on 127.0.0.1.",
	},
	{
		name: "LOG_LEVEL",
		default: "info",
		description: "`debug`, `info`, `warn` or `error`. JSON lines on stdout.",
	},
	{
		name: "SESSION_TIMEOUT",
		default: "3600",
		description: "Longest a run may take, in seconds, before it is aborted with a terminal `timeout` error.",
	},
	{
		name: "MAX_CONCURRENT_SESSIONS",
		default: "5",
		description: "Runs in progress at once; further `POST /sessions` get 503 with `Retry-After`.",
	},
	{
		name: "OPENCODE_SHARED_SECRET",
		default: undefined,
		description: "When set, every `/sessions` route needs `Authorization: Bearer <secret>`. Probes stay open.",
	},
	{
		name: "CREDENTIALS_URL",
		default: "",
		description:
			"The backend's credentials endpoint (see API_CONTRACT.md, Credentials source). When set, the sidecar asks it for a session's key after a restart (interrupted runs resume on their own) and once after a provider 401. Requires `OPENCODE_SHARED_SECRET`, sent as the bearer token. Empty: never asked.",
	},
	{
		name: "CREDENTIALS_TIMEOUT",
		default: "10",
		description:
			"Seconds one request to `CREDENTIALS_URL` may take; then the run waiting for the key ends `failed` with code `interrupted`.",
	},
	{
		name: "HEARTBEAT_INTERVAL",
		default: "15",
		description: "Seconds between `heartbeat` events on an open stream.",
	},
	{
		name: "STATE_DIR",
		default: "/var/lib/opencode-sidecar",
		description:
			"The sidecar's durable data: session records, event logs and the engine's home and database. Must not be inside `WORKSPACE_DIR`.",
	},
	{
		name: "OPENCODE_BIN",
		default: "",
		description:
			"Path of the `opencode` engine binary. Empty: the one installed with the sidecar (`node_modules/.bin/opencode`).",
	},
	{
		name: "MAX_BODY_BYTES",
		default: "1048576",
		description: "Largest accepted request body; larger ones get 413.",
	},
	{
		name: "STREAM_BUFFER_BYTES",
		default: "1048576",
		description:
			"Bytes queued for one SSE subscriber before it is judged too slow and disconnected (it resumes with `Last-Event-ID`).",
	},
	{
		name: "HTTP_IDLE_TIMEOUT",
		default: "30",
		description:
			"Seconds an idle keep-alive connection is kept open (1-255). SSE streams are exempt; heartbeats keep proxies on the path awake.",
	},
	{
		name: "QUESTION_TIMEOUT",
		default: "300",
		description:
			"Seconds a question from the agent waits for `POST /sessions/{id}/questions/{question_id}` before it is answered with its default option.",
	},
	{
		name: "PERMISSION_POLICY",
		default: "workspace",
		description:
			"How the agent's permission requests are answered: `workspace` (allow inside `WORKSPACE_DIR`, reject outside it and repeated identical calls), `allow` (allow everything), `reject` (reject everything asked).",
	},
	{
		name: "PROVIDER_IDLE_TIMEOUT",
		default: "120",
		description:
			"Seconds an LLM call may go without receiving a byte from the provider; then the run fails with code `provider_timeout`. Keep it below `SESSION_TIMEOUT`.",
	},
	{
		name: "PROVIDER_MAX_RETRIES",
		default: "6",
		description:
			"Retries the engine may make for one run after rate limits (429) or provider errors (5xx); one more fails the run instead of retrying forever.",
	},
	{
		name: "RESUME_INTERRUPTED",
		default: "true",
		description:
			"`true`: a run cut short by an engine restart resumes in the same engine session. `false`: it ends `failed` with code `interrupted`.",
	},
	{
		name: "ENGINE_RSS_SOFT_LIMIT",
		default: "700",
		description: "MiB of engine memory above which the engine is recycled as soon as no run is in progress (0: never).",
	},
	{
		name: "ENGINE_RSS_HARD_LIMIT",
		default: "900",
		description: "MiB of engine memory above which the engine is recycled at once; its runs resume (0: never).",
	},
	{
		name: "MAX_SUBSCRIBERS_PER_SESSION",
		default: "200",
		description: "Open SSE streams one session may have; one more gets 503 with `Retry-After`.",
	},
	{
		name: "MAX_STORED_SESSIONS",
		default: "500",
		description:
			"Ended sessions kept in `STATE_DIR` (oldest removed first, with the engine's copy); running sessions are never removed.",
	},
	{
		name: "SHUTDOWN_DELAY",
		default: "5",
		description:
			"Seconds between SIGTERM (readiness 503, no new sessions) and closing streams, so the pod leaves Service endpoints first.",
	},
	{
		name: "SHUTDOWN_TIMEOUT",
		default: "20",
		description:
			"Seconds after SIGTERM by which the process exits whatever remains (keep below terminationGracePeriodSeconds).",
	},
	{
		name: "ENGINE_START_TIMEOUT",
		default: "30",
		description: "Seconds the engine may take to start listening before the attempt counts as failed.",
	},
	{
		name: "ENGINE_CALL_TIMEOUT",
		default: "10",
		description:
			"Seconds one call to the engine (create a session, send a prompt, abort) may take; a run whose start times out ends `failed` with code `engine_unavailable`.",
	},
	{
		name: "ENGINE_HEALTH_INTERVAL",
		default: "5",
		description:
			"Seconds between the watchdog's health checks of the engine (`GET /global/health`), once it has warmed up.",
	},
	{
		name: "ENGINE_HEALTH_TIMEOUT",
		default: "3",
		description: "Seconds one health check may take before it counts as failed.",
	},
	{
		name: "ENGINE_HEALTH_FAILURES",
		default: "3",
		description:
			"Consecutive failed health checks after which the engine is recycled (SIGTERM, SIGKILL 2 s later) and its runs resume in a new one. With the defaults a hung engine is replaced within about 20 s.",
	},
	{
		name: "ENGINE_EVENT_IDLE_TIMEOUT",
		default: "30",
		description:
			"Seconds the engine's event feed may go without a byte (the engine sends a heartbeat every 10 s) before it is reconnected and every running session reconciled from the engine's state.",
	},
	{
		name: "K8S_REPORTER",
		default: "auto",
		description:
			"Session lifecycle as Kubernetes Events and a pod annotation. `auto`: when a service-account token is mounted and `POD_NAME` is set; `on`: always (requires `POD_NAME`); `off`: never.",
	},
	{
		name: "POD_NAME",
		default: "",
		description: "This pod's name (downward API `metadata.name`), for the Kubernetes reporter.",
	},
	{
		name: "POD_NAMESPACE",
		default: "",
		description: "This pod's namespace (downward API `metadata.namespace`). Empty: the service account's namespace.",
	},
	{
		name: "POD_UID",
		default: "",
		description:
			"This pod's uid (downward API `metadata.uid`), so `kubectl describe pod` lists the reporter's Events. Empty: read from the API.",
	},
	{
		name: "ENGINE_SEED_DIR",
		default: "",
		description:
			"Engine dependencies pre-installed in the image, linked into the engine's config directory at start so the engine installs nothing. Set by the image.",
	},
] as const satisfies readonly VariableSpec[];

export type VariableName = (typeof VARIABLES)[number]["name"];
