import { Elysia } from "elysia";
import type { ReadinessDeps } from "./health/readiness";
import { healthRoutes } from "./health/routes";
import { apiDocs } from "./http/openapi";
import { httpCore } from "./http/plugin";
import { hostRules } from "./http/request-source";
import type { Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import type { Metrics } from "./metrics/metrics";
import { metricsRoutes } from "./metrics/routes";
import type { SessionManager } from "./sessions/manager";
import { sessionRoutes } from "./sessions/routes";
import type { StreamHub } from "./sse/hub";
import { uiAllowedMethods, uiRoutes } from "./ui/routes";

export interface AppDeps {
	readonly sessions: SessionManager;
	readonly streams: StreamHub;
	readonly readiness: ReadinessDeps;
	readonly clock: Clock;
	readonly log: Logger;
	readonly maxBodyBytes: number;
	readonly sharedSecret: string | undefined;
	readonly version: string;
	readonly metrics?: Metrics;
	/**
	 * Names accepted as `Host` besides IP literals and `localhost`; an entry
	 * starting with a dot is a suffix (ALLOWED_HOSTS, POD_NAME, HOSTNAME). Default: none.
	 */
	readonly allowedHosts?: readonly string[];
	/** Default 200 (MAX_SUBSCRIBERS_PER_SESSION). */
	readonly maxSubscribersPerSession?: number;
}

const UUID = /^\/sessions\/[^/]+$/;
const SESSION_SUB = /^\/sessions\/[^/]+\/(stream|status|diff)$/;
const MESSAGES = /^\/sessions\/[^/]+\/messages$/;
const QUESTION = /^\/sessions\/[^/]+\/questions\/[^/]+$/;

/** Methods each known path answers, for 405 on the others. */
function allowedMethods(path: string): string[] | undefined {
	if (path === "/sessions" || path === "/sessions/") return ["GET", "POST"];
	if (SESSION_SUB.test(path)) return ["GET"];
	if (MESSAGES.test(path)) return ["GET", "POST"];
	if (QUESTION.test(path)) return ["POST"];
	if (UUID.test(path)) return ["DELETE"];
	if (["/healthz", "/health", "/ready", "/metrics"].includes(path)) return ["GET"];
	return uiAllowedMethods(path);
}

/** The HTTP application, without a listening socket (tests call `app.handle`). */
export function createApp(deps: AppDeps) {
	return new Elysia({ name: "opencode-sidecar" })
		.use(
			httpCore({
				maxBodyBytes: deps.maxBodyBytes,
				sharedSecret: deps.sharedSecret,
				// Every API route. Not the probes (the kubelet cannot send a token), nor the pages and the
				// OpenAPI document (/ui, /swagger: nothing secret, and a browser cannot send a bearer header
				// when it loads a page; every API call they make sends it).
				protectedPrefixes: ["/sessions", "/metrics"],
				hosts: hostRules(deps.allowedHosts ?? []),
				clock: deps.clock,
				log: deps.log,
				allowedMethods,
			}),
		)
		.use(apiDocs(deps.version, deps.metrics !== undefined))
		.use(uiRoutes())
		.use(healthRoutes(deps.readiness))
		.use(metricsRoutes(deps.metrics))
		.use(sessionRoutes(deps.sessions, deps.streams, deps.maxSubscribersPerSession ?? 200));
}

export type App = ReturnType<typeof createApp>;
