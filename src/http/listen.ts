import type { App } from "../app";
import type { Config } from "../config/parse";

/** Serves `app` on the configured address with the server options the pod runs with. */
export function listen(config: Pick<Config, "host" | "port" | "httpIdleTimeoutSeconds">, app: App): App {
	return app.listen({
		hostname: config.host,
		port: config.port,
		// Streams disable it per request; this bounds everything else.
		idleTimeout: config.httpIdleTimeoutSeconds,
		// Our own limit answers with the error envelope (declared sizes before reading, streamed
		// ones while reading); Bun's would answer a bare 413 first.
		maxRequestBodySize: Number.MAX_SAFE_INTEGER,
	});
}
