import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { documentedErrors } from "./responses";

/** Where the document is served (src/ui serves the Swagger UI page at `DOCS_PATH`). */
export const DOCS_PATH = "/swagger";
export const DOCUMENT_PATH = "/swagger/json";

/**
 * The version the document declares. @elysiajs/openapi generates 3.1; the
 * stream's response needs 3.2's `itemSchema` (a sequence of typed events),
 * and nothing else in the generated document differs between the two.
 */
const OPENAPI_VERSION = "3.2.0";

/** Operations that need no token: the kubelet's probes. */
export const PUBLIC = { security: [] as Record<string, string[]>[] };

const METRICS_PATH = {
	get: {
		tags: ["operations"],
		operationId: "metrics",
		summary: "Prometheus metrics",
		description: "Every series of the sidecar in the Prometheus text format 0.0.4.",
		responses: {
			200: {
				description: "Prometheus text exposition",
				content: { "text/plain": { schema: { type: "string" as const } } },
			},
			...documentedErrors(),
		},
	},
};

/**
 * The OpenAPI document at /swagger/json (and the Swagger UI page at
 * /swagger): built by @elysiajs/openapi from the routes' schemas, with the
 * bearer scheme required by every operation that does not opt out, the
 * server the backend talks to, and the 3.2 version marker.
 */
export function apiDocs(version: string, metrics: boolean) {
	const plugin = openapi({
		path: DOCS_PATH,
		specPath: DOCUMENT_PATH,
		// The plugin's page loads Swagger UI from a CDN; src/ui serves it from swagger-ui-dist instead.
		provider: null,
		documentation: {
			info: {
				title: "opencode-sidecar",
				version,
				description:
					"Runs OpenCode coding sessions in a task pod and streams them as typed Server-Sent Events. See API_CONTRACT.md.",
			},
			servers: [
				// Relative to the document (/swagger/json): the sidecar that serves it, whatever host and path
				// prefix it is reached through (Swagger UI's "Try it out" sends its requests there).
				{ url: "..", description: "The sidecar serving this document" },
				{
					url: "http://{host}:{port}",
					description: "The task pod (the backend proxies to pod-ip:3003)",
					variables: {
						host: { default: "localhost", description: "Pod IP or service name" },
						port: { default: "3003" },
					},
				},
			],
			security: [{ bearer: [] }],
			tags: [
				{ name: "probes", description: "Kubernetes liveness and readiness" },
				{ name: "sessions", description: "Start, watch, poll and cancel coding sessions" },
				{ name: "operations", description: "Metrics for Prometheus" },
			],
			// The metrics route answers a text body of its own; described here rather than in its route.
			...(metrics ? { paths: { "/metrics": METRICS_PATH } } : {}),
			components: {
				securitySchemes: {
					bearer: {
						type: "http",
						scheme: "bearer",
						description: "OPENCODE_SHARED_SECRET. Checked only when the sidecar has one; probes never need it.",
					},
				},
			},
		},
	});
	// Post-processes the plugin's generated document (cached by the plugin: done once per object).
	const finished = new WeakMap<object, object>();
	return new Elysia({ name: "api-docs" })
		.onAfterHandle({ as: "global" }, ({ path, response }) => {
			if (path !== DOCUMENT_PATH || typeof response !== "object" || response === null) return;
			if (response instanceof Response) return;
			let doc = finished.get(response);
			if (!doc) {
				doc = { ...response, openapi: OPENAPI_VERSION };
				finished.set(response, doc);
			}
			return doc;
		})
		.use(plugin);
}
