import { Elysia, t } from "elysia";
import { eventComponents, eventStreamItems, SESSION_EVENT } from "../events/openapi";
import { literalUnion } from "../lib/schema";
import { documentedErrors } from "./responses";

/** Where the document is served (src/ui serves the Swagger UI page at `DOCS_PATH`). */
export const DOCS_PATH = "/swagger";
export const DOCUMENT_PATH = "/swagger/json";

/**
 * The versions served. 3.1 by default: what generators read (those built on
 * swagger-parser, @readme/openapi-parser, openapi-typescript-codegen do not
 * read 3.2 yet). 3.2 at `?version=3.2`: the stream described frame by frame
 * with `itemSchema`. Nothing else differs between the two (src/events/openapi.ts).
 */
export const DOCUMENT_VERSIONS = ["3.1", "3.2"] as const;
const DocumentQuery = t.Object({
	version: t.Optional(literalUnion(DOCUMENT_VERSIONS, { description: "3.1 (default) or 3.2" })),
});

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
 * does not opt out, the server the backend talks to, and the stream's events
 * (`?version=3.2`: the 3.2 form). The generator is loaded on the first request and the document built
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
	let built: { routes: number; documents: Promise<Record<(typeof DOCUMENT_VERSIONS)[number], object>> } | undefined;
	/** The routes are all declared before the first request; rebuilt only if more were added since (as the plugin does). */
	const documents = () => {
		const routes = (docs as unknown as { getGlobalRoutes(): unknown[] }).getGlobalRoutes().length;
		if (built?.routes !== routes) {
			const base = generate(docs, documentation);
			built = { routes, documents: base.then((doc) => ({ "3.1": doc, "3.2": asOpenApi32(doc) })) };
		}
		return built.documents;
	};
	return docs.get(DOCUMENT_PATH, async ({ query }) => (await documents())[query.version ?? "3.1"], {
		query: DocumentQuery,
		detail: { hide: true },
	});
}

/** The document as the `openapi()` plugin assembles it (its `toFullSchema`), with the events' components: 3.1. */
async function generate(app: Elysia, documentation: DocumentBase): Promise<OpenApiDocument> {
	const { toOpenAPISchema } = await import("@elysiajs/openapi/openapi");
	const { paths, components } = toOpenAPISchema(app as never);
	return {
		...documentation,
		openapi: "3.1.0",
		tags: documentation.tags,
		info: documentation.info,
		paths: { ...paths, ...documentation.paths } as OpenApiDocument["paths"],
		components: {
			...documentation.components,
			schemas: { ...components.schemas, ...eventComponents() },
		},
	};
}

type MediaTypes = Record<string, Record<string, unknown>>;
interface OpenApiDocument {
	readonly openapi: string;
	readonly components: { schemas: Record<string, unknown> };
	readonly paths: Record<string, Record<string, { responses?: Record<string, { content?: MediaTypes }> }>>;
	readonly [key: string]: unknown;
}

/** The 3.2 form of the document: every `text/event-stream` response described by its items. */
function asOpenApi32(doc: OpenApiDocument): object {
	const copy = structuredClone(doc);
	for (const item of Object.values(copy.paths))
		for (const op of Object.values(item))
			for (const response of Object.values(op.responses ?? {}))
				if (response.content?.["text/event-stream"]) response.content["text/event-stream"] = eventStreamItems();
	delete copy.components.schemas[SESSION_EVENT];
	return { ...copy, openapi: "3.2.0" };
}

interface DocumentBase {
	readonly info: object;
	readonly tags: readonly object[];
	readonly paths?: Record<string, unknown>;
	readonly components: object;
}
