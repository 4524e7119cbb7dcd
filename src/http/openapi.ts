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
 * The OpenAPI document at /swagger/json (the Swagger UI page at /swagger is
 * src/ui's): generated from the routes' schemas by @elysiajs/openapi's
 * `toOpenAPISchema`, with the bearer scheme required by every operation that
 * does not opt out, the server the backend talks to, and the 3.2 version
 * marker. The generator is loaded on the first request and the document built
 * once: nothing of it costs memory in a sidecar nobody reads the docs of.
 * (Not the `openapi()` plugin: it imports the generator, Scalar's and Swagger
 * UI's page renderers and a JSON Schema converter for Zod at start, ~2 MB of
 * RSS, to serve the same document; this is what its route does, minus the pages.)
 */
export function apiDocs(version: string, metrics: boolean) {
	const documentation = {
		info: {
			title: "opencode-sidecar",
			description:
				"Runs OpenCode coding sessions in a task pod and streams them as typed Server-Sent Events. See API_CONTRACT.md.",
			version,
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
	};
	const docs = new Elysia({ name: "api-docs" });
	let built: { routes: number; document: Promise<object> } | undefined;
	/** The routes are all declared before the first request; rebuilt only if more were added since (as the plugin does). */
	const document = () => {
		const routes = (docs as unknown as { getGlobalRoutes(): unknown[] }).getGlobalRoutes().length;
		if (built?.routes !== routes) built = { routes, document: generate(docs, documentation) };
		return built.document;
	};
	return docs.get(DOCUMENT_PATH, () => document(), { detail: { hide: true } });
}

/** The document as the `openapi()` plugin assembles it (its `toFullSchema`), declared as 3.2. */
async function generate(app: Elysia, documentation: DocumentBase): Promise<object> {
	const { toOpenAPISchema } = await import("@elysiajs/openapi/openapi");
	const { paths, components } = toOpenAPISchema(app as never);
	return {
		...documentation,
		openapi: OPENAPI_VERSION,
		tags: documentation.tags,
		info: documentation.info,
		paths: { ...paths, ...documentation.paths },
		components: {
			...documentation.components,
			schemas: { ...components.schemas, ...(documentation.components as { schemas?: object }).schemas },
		},
	};
}

interface DocumentBase {
	readonly info: object;
	readonly tags: readonly object[];
	readonly paths?: Record<string, unknown>;
	readonly components: object;
}
