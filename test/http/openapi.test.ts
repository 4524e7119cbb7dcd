import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createApp } from "../../src/app";
import { EVENT_CATALOGUE } from "../../src/events/catalogue";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import {
	checkEvent,
	checked,
	checkResponse,
	isRecorderInstalled,
	liveDocument,
	resolve as resolveRef,
} from "../support/conformance";

const REPO = resolve(import.meta.dir, "../..");
const bin = (name: string) => join(REPO, "node_modules/.bin", name);

type Json = Record<string, any>;
/** The document at /swagger/json (3.1) and at /swagger/json?version=3.2. */
let doc: Json;
let doc32: Json;
let dir: string;
const files = { "3.1": "", "3.2": "" };

beforeAll(async () => {
	[doc, doc32] = await Promise.all([liveDocument(), liveDocument("3.2")]);
	dir = mkdtempSync(join(tmpdir(), "sidecar-openapi-"));
	files["3.1"] = join(dir, "openapi-3.1.json");
	files["3.2"] = join(dir, "openapi-3.2.json");
	writeFileSync(files["3.1"], JSON.stringify(doc, null, 2));
	writeFileSync(files["3.2"], JSON.stringify(doc32, null, 2));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string[]): { code: number; stdout: string; stderr: string } {
	const r = Bun.spawnSync(cmd, { cwd: REPO, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
	return { code: r.exitCode ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The app with no services: only what answers before a service is asked (a service asked answers 500). */
function bareApp() {
	const stub = {} as never;
	return createApp({
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
}

const operations = () =>
	Object.entries(doc.paths as Json).flatMap(([path, item]) =>
		Object.entries(item as Json).map(([method, op]) => ({ path, method, op: op as Json })),
	);

describe.each(["3.1", "3.2"] as const)("the OpenAPI %s document passes the linters", (version) => {
	// Rules turned off are in redocly.yaml and .spectral.yaml, each with its reason; nothing else is accepted.
	test("Redocly CLI (recommended): no error, no warning", () => {
		const r = run([bin("redocly"), "lint", "--config", join(REPO, "redocly.yaml"), "--format", "json", files[version]]);
		const report = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as {
			totals: { errors: number; warnings: number };
			problems: { ruleId: string; message: string }[];
		};
		expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
		expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
	}, 60_000);

	test("Spectral (spectral:oas): no error, no warning", () => {
		const r = run([
			bin("spectral"),
			"lint",
			"--ruleset",
			join(REPO, ".spectral.yaml"),
			"--format",
			"json",
			files[version],
		]);
		// The JSON array is followed by a summary line on the same stream.
		const problems = JSON.parse(r.stdout.slice(r.stdout.indexOf("["), r.stdout.lastIndexOf("]") + 1)) as {
			code: string;
			message: string;
		}[];
		expect(problems.map((p) => `${p.code}: ${p.message}`)).toEqual([]);
		expect(r.code).toBe(0);
	}, 60_000);
});

describe("the OpenAPI document describes the API", () => {
	test("request bodies are JSON with their schemas", () => {
		for (const [path, required] of [
			["/sessions", ["session_id", "prompt", "model_config"]],
			["/sessions/{id}/messages", ["prompt"]],
			["/sessions/{id}/questions/{question_id}", ["answers"]],
		] as const) {
			const body = doc.paths[path].post.requestBody;
			expect(Object.keys(body.content)).toEqual(["application/json"]);
			expect(body.content["application/json"].schema.required).toEqual(required);
		}
	});

	test("the bearer token is required by every operation but the probes; no path ends with a slash; servers are named", () => {
		expect(doc.security).toEqual([{ bearer: [] }]);
		expect(doc.servers.length).toBeGreaterThan(0);
		for (const { path, op } of operations()) {
			expect(path === "/" || !path.endsWith("/")).toBe(true);
			if (op.tags?.includes("probes")) expect(op.security).toEqual([]);
			else {
				expect(op.security).toBeUndefined(); // the document-wide requirement applies
				expect(Object.keys(op.responses)).toContain("401");
			}
		}
	});

	test("every error response carries the envelope schema", () => {
		for (const { path, method, op } of operations()) {
			for (const [status, response] of Object.entries(op.responses as Json)) {
				if (Number(status) < 400 || (path === "/ready" && status === "503")) continue;
				const schema = response.content?.["application/json"]?.schema;
				expect({ at: `${method} ${path} ${status}`, required: schema?.required }).toEqual({
					at: `${method} ${path} ${status}`,
					required: expect.arrayContaining(["error", "code", "timestamp"]),
				});
			}
		}
	});

	test("no two parameters of one operation have the same name once a generator camel-cases it", () => {
		// openapi-typescript-codegen turned the query `last_event_id` and the header `last-event-id` into two `lastEventId`s.
		const camel = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, "");
		for (const { path, method, op } of operations()) {
			const names = ((op.parameters ?? []) as Json[]).map((p) => camel(p.name));
			expect({ at: `${method} ${path}`, names }).toEqual({ at: `${method} ${path}`, names: [...new Set(names)] });
		}
	});

	test("3.1: the stream's schema is the SessionEvent union, one component per event of the catalogue", () => {
		expect(doc.openapi).toBe("3.1.0");
		const media = doc.paths["/sessions/{id}/stream"].get.responses["200"].content["text/event-stream"];
		expect(media.itemSchema).toBeUndefined();
		expect(media.schema).toEqual({ $ref: "#/components/schemas/SessionEvent" });
		const names = Object.keys(EVENT_CATALOGUE) as (keyof typeof EVENT_CATALOGUE)[];
		const byName = media["x-sse-events"] as Record<string, string>;
		expect(Object.keys(byName)).toEqual(names);
		expect(doc.components.schemas.SessionEvent.oneOf).toEqual(names.map((n) => ({ $ref: byName[n] })));
		for (const name of names) {
			const { description, ...payload } = resolveRef(doc, byName[name] as string);
			expect({ name, payload }).toEqual({ name, payload: JSON.parse(JSON.stringify(EVENT_CATALOGUE[name].schema)) });
			expect(description).toContain(`event: ${name}`);
		}
	});

	test("3.2 (?version=3.2): the stream's itemSchema lists each event frame, its data schema the same component", () => {
		expect(doc32.openapi).toBe("3.2.0");
		const media = doc32.paths["/sessions/{id}/stream"].get.responses["200"].content["text/event-stream"];
		const items = media.itemSchema.oneOf as Json[];
		const byName = Object.fromEntries(items.map((i) => [i.properties.event?.const, i]));
		for (const name of Object.keys(EVENT_CATALOGUE) as (keyof typeof EVENT_CATALOGUE)[]) {
			const ref =
				doc.paths["/sessions/{id}/stream"].get.responses["200"].content["text/event-stream"]["x-sse-events"][name];
			expect(byName[name]?.properties.data.contentSchema).toEqual({ $ref: ref });
			expect(resolveRef(doc32, ref)).toEqual(resolveRef(doc, ref));
		}
		// Nothing else differs: the same paths and components, from the same routes and catalogue.
		const { SessionEvent: _, ...components32 } = doc.components.schemas;
		expect(doc32.components.schemas).toEqual(components32);
		const withoutStream = (d: Json) => ({ ...d.paths, "/sessions/{id}/stream": undefined });
		expect(withoutStream(doc32)).toEqual(withoutStream(doc));
	});

	test("any other version is a 400 with the envelope", async () => {
		const res = await bareApp().handle(new Request("http://localhost/swagger/json?version=3.0"));
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ code: "invalid_request", details: { field: "version" } });
	});

	test("the Last-Event-ID header, no longer a listed parameter, is still checked before the session is looked up", async () => {
		const stream = doc.paths["/sessions/{id}/stream"].get;
		expect(stream.parameters.map((p: Json) => `${p.in} ${p.name}`)).toEqual(["path id", "query last_event_id"]);
		expect(stream.description).toContain("`Last-Event-ID` request header");
		const res = await bareApp().handle(
			new Request(`http://localhost/sessions/${crypto.randomUUID()}/stream`, {
				headers: { "last-event-id": "1".repeat(33) },
			}),
		);
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ code: "invalid_request", details: { field: "last-event-id" } });
	});
});

describe("the conformance recorder", () => {
	const status = `/sessions/${crypto.randomUUID()}/status`;
	const envelope = { error: "no such session", code: "session_not_found", timestamp: new Date().toISOString() };

	test("is installed for every test file (fetch is wrapped by the preload)", () => {
		expect(isRecorderInstalled()).toBe(true);
	});

	test("accepts a declared status with a valid body and counts it", async () => {
		const before = checked.responses;
		await checkResponse("GET", status, Response.json(envelope, { status: 404 }));
		expect(checked.responses).toBe(before + 1);
	});

	test("fails on a status the document does not declare", async () => {
		await expect(checkResponse("GET", status, Response.json(envelope, { status: 418 }))).rejects.toThrow(
			/answered 418, which the document does not declare/,
		);
	});

	test("fails on a body that does not match, and on an undeclared content type", async () => {
		await expect(checkResponse("GET", status, Response.json({ error: "x" }, { status: 404 }))).rejects.toThrow(
			/body does not match/,
		);
		await expect(checkResponse("GET", status, new Response("nope", { status: 404 }))).rejects.toThrow(/content type/);
	});

	test("fails on a stream event that does not match its payload schema, and on an unknown event", () => {
		const timestamp = new Date().toISOString();
		checkEvent("status", { status: "running", timestamp });
		expect(() => checkEvent("status", { status: "resting", timestamp })).toThrow(/does not match/);
		expect(() => checkEvent("surprise", {})).toThrow(/not in the document/);
	});
});

describe("the OpenAPI document costs nothing until it is asked for", () => {
	test("a fresh app has not loaded @elysiajs/openapi; the first /swagger/json loads it and answers the 3.1 document", () => {
		// A process of its own: the test runner has long loaded the generator for the other tests.
		const script = `
			const { createApp } = await import(${JSON.stringify(join(REPO, "src/app.ts"))});
			const { systemClock } = await import(${JSON.stringify(join(REPO, "src/lib/clock.ts"))});
			const { createLogger } = await import(${JSON.stringify(join(REPO, "src/lib/log.ts"))});
			const loaded = () => Object.keys(require.cache).some((k) => k.includes("@elysiajs/openapi"));
			const stub = {};
			const app = createApp({ sessions: stub, streams: stub, readiness: stub, clock: systemClock,
				log: createLogger("error"), maxBodyBytes: 1000, sharedSecret: undefined, version: "t", metrics: stub });
			const atStart = loaded();
			const res = await app.handle(new Request("http://localhost/swagger/json"));
			const doc = await res.json();
			console.log(JSON.stringify({ atStart, after: loaded(), status: res.status, openapi: doc.openapi, sessions: "/sessions" in doc.paths }));
		`;
		const r = run([process.execPath, "-e", script]);
		expect(r.stderr).toBe("");
		expect(JSON.parse(r.stdout.trim())).toEqual({
			atStart: false,
			after: true,
			status: 200,
			openapi: "3.1.0",
			sessions: true,
		});
	});
});
