import { Elysia } from "elysia";
import type { Metrics } from "./metrics";

/** `GET /metrics` in the Prometheus text format 0.0.4 (behind the shared secret when one is set). */
export function metricsRoutes(metrics: Metrics | undefined) {
	const app = new Elysia({ name: "metrics" });
	if (!metrics) return app;
	return app.get(
		"/metrics",
		async () =>
			new Response(await metrics.scrape(), {
				headers: { "content-type": metrics.contentType },
			}),
		{
			detail: {
				tags: ["operations"],
				operationId: "metrics",
				summary: "Prometheus metrics",
			},
		},
	);
}
