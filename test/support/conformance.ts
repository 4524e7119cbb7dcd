/**
 * Response conformance: every response the HTTP and end-to-end suites get from
 * a sidecar is checked against the live OpenAPI document (Ajv, JSON Schema
 * 2020-12): its status must be declared for the operation, its content type
 * declared for that status, and its JSON body valid against the schema; every
 * stream event read through `sse-client` is checked against its payload's schema
 * (the stream's `x-sse-events`). `fetch` is wrapped once (test/support/preload.ts) and the
 * in-process client calls `checkResponse` itself, so the existing tests need
 * no change; a response that does not conform fails the test that got it.
 */
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { createApp } from "../../src/app";
import { DOCUMENT_PATH } from "../../src/http/openapi";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";

type Json = Record<string, unknown>;
type Validate = ((data: unknown) => boolean) & { errors?: unknown };

interface Operation {
	readonly template: string;
	readonly pattern: RegExp;
	readonly method: string;
	/** status → content type → validator (undefined: no body declared). */
	readonly responses: Map<string, Map<string, Validate | undefined>>;
}

interface Model {
	readonly document: Json;
	readonly operations: Operation[];
	/** Event name → validator of its data. */
	readonly events: Map<string, Validate>;
}

let model: Promise<Model> | undefined;
/** The model once built (stream events are checked synchronously, after their response was). */
let ready: Model | undefined;
/** How many responses and events were checked in this process (a test asserts the recorder ran). */
export const checked = { responses: 0, events: 0 };

/** The document the sidecar serves (3.1; `"3.2"`: its 3.2 form), from the same app (its routes do not depend on the services). */
export async function liveDocument(version?: "3.2"): Promise<Json> {
	const stub = {} as never;
	const app = createApp({
		sessions: stub,
		streams: stub,
		readiness: stub,
		clock: systemClock,
		log: createLogger("error"),
		maxBodyBytes: 1_000_000,
		sharedSecret: undefined,
		version: "test",
		metrics: stub,
	});
	const res = await app.handle(new Request(`http://localhost${DOCUMENT_PATH}${version ? `?version=${version}` : ""}`));
	return (await res.json()) as Json;
}

async function build(): Promise<Model> {
	const document = await liveDocument();
	const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
	addFormats(ajv);
	const operations: Operation[] = [];
	const events = new Map<string, Validate>();
	for (const [template, item] of Object.entries(document.paths as Record<string, Json>)) {
		const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}/?$`);
		for (const [method, op] of Object.entries(item as Record<string, Json>)) {
			const responses = new Map<string, Map<string, Validate | undefined>>();
			for (const [status, response] of Object.entries((op.responses ?? {}) as Record<string, Json>)) {
				const byType = new Map<string, Validate | undefined>();
				for (const [type, media] of Object.entries((response.content ?? {}) as Record<string, Json>)) {
					if (type === "text/event-stream") {
						// Each event's data against its payload's component (`x-sse-events`: event name → $ref).
						for (const [name, ref] of Object.entries(media["x-sse-events"] as Record<string, string>))
							events.set(name, ajv.compile(resolve(document, ref)) as Validate);
						byType.set(type, undefined);
					} else byType.set(type, media.schema ? (ajv.compile(media.schema as Json) as Validate) : undefined);
				}
				responses.set(status, byType);
			}
			operations.push({ template, pattern, method: method.toUpperCase(), responses });
		}
	}
	return { document, operations, events };
}

/** A local `#/…` reference of the document. */
export function resolve(document: Json, ref: string): Json {
	return ref
		.slice(2)
		.split("/")
		.reduce((node, key) => (node as Record<string, Json>)[key] as Json, document as Json);
}

function load(): Promise<Model> {
	model ??= build().then((m) => {
		ready = m;
		return m;
	});
	return model;
}

/** The documented operation a request goes to, if any (probes, sessions, metrics; not the docs or other servers). */
async function operationOf(method: string, path: string): Promise<Operation | undefined> {
	const m = await load();
	const candidates = m.operations.filter((o) => o.method === method && o.pattern.test(path));
	// The most specific template: `/sessions/{id}/status` before `/sessions/{id}`.
	return candidates.sort((a, b) => b.template.length - a.template.length)[0];
}

/** Documented paths, to tell a sidecar's response from the scripted LLM's or a fake API server's. */
export const SIDECAR_PATH = /^\/(healthz|health|ready|metrics|sessions)(\/|$)/;

/**
 * Checks one response of a sidecar against the document. Throws when its status is
 * not declared for the operation, its content type not declared for the status, or
 * its JSON body not valid. Reads a clone, so the caller's body is untouched.
 */
export async function checkResponse(method: string, url: string, res: Response): Promise<void> {
	const path = new URL(url, "http://localhost").pathname;
	if (!SIDECAR_PATH.test(path)) return;
	const op = await operationOf(method.toUpperCase(), path);
	if (!op) return; // 404/405 for an undocumented method or path: nothing to check against
	const where = `${method.toUpperCase()} ${path} (${op.template})`;
	const byType = op.responses.get(String(res.status));
	if (!byType) {
		const body = await res.clone().text();
		throw new Error(
			`conformance: ${where} answered ${res.status}, which the document does not declare (declared: ${[...op.responses.keys()].join(", ")}); body: ${body.slice(0, 300)}`,
		);
	}
	checked.responses++;
	if (byType.size === 0) return;
	const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
	if (!byType.has(type))
		throw new Error(`conformance: ${where} ${res.status} has content type "${type}", not one of ${[...byType.keys()]}`);
	const validate = byType.get(type);
	if (!validate || type !== "application/json") return;
	const body = JSON.parse(await res.clone().text()) as unknown;
	if (!validate(body)) {
		throw new Error(
			`conformance: ${where} ${res.status} body does not match the document: ${JSON.stringify(validate.errors).slice(0, 600)}`,
		);
	}
}

/**
 * Checks one stream event (name and parsed data) against its payload's schema (the stream's `x-sse-events`).
 * The preload has loaded the document.
 */
export function checkEvent(event: string, data: unknown): void {
	if (!installed) return; // a script outside the test runner (e.g. scripts/soak.ts)
	if (!ready) throw new Error("conformance: the document is not loaded (the preload awaits it)");
	const validate = ready.events.get(event);
	if (!validate) throw new Error(`conformance: stream event "${event}" is not in the document`);
	if (!validate(data))
		throw new Error(`conformance: "${event}" event does not match the document: ${JSON.stringify(validate.errors)}`);
	checked.events++;
}

let installed = false;

/** Routes every `fetch` of this process through `checkResponse` (done once, by the test preload). */
export async function installFetchRecorder(): Promise<void> {
	if (installed) return;
	installed = true;
	await load();
	const original = globalThis.fetch;
	const wrapped = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
		const res = await original(input, init);
		const request = input instanceof Request ? input : undefined;
		const url = request ? request.url : String(input);
		await checkResponse(init?.method ?? request?.method ?? "GET", url, res);
		return res;
	};
	globalThis.fetch = Object.assign(wrapped, original) as typeof fetch;
}

export const isRecorderInstalled = () => installed;
