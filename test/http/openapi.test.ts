import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EVENT_CATALOGUE } from "../../src/events/catalogue";
import { checkEvent, checked, checkResponse, isRecorderInstalled, liveDocument } from "../support/conformance";

const REPO = resolve(import.meta.dir, "../..");
const bin = (name: string) => join(REPO, "node_modules/.bin", name);

type Json = Record<string, any>;
let doc: Json;
let dir: string;
let file: string;

beforeAll(async () => {
	doc = await liveDocument();
	dir = mkdtempSync(join(tmpdir(), "sidecar-openapi-"));
	file = join(dir, "openapi.json");
	writeFileSync(file, JSON.stringify(doc, null, 2));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string[]): { code: number; stdout: string; stderr: string } {
	const r = Bun.spawnSync(cmd, { cwd: REPO, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
	return { code: r.exitCode ?? 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const operations = () =>
	Object.entries(doc.paths as Json).flatMap(([path, item]) =>
		Object.entries(item as Json).map(([method, op]) => ({ path, method, op: op as Json })),
	);

describe("the OpenAPI document passes the linters", () => {
	// Rules turned off are in redocly.yaml and .spectral.yaml, each with its reason; nothing else is accepted.
	test("Redocly CLI (recommended): no error, no warning", () => {
		const r = run([bin("redocly"), "lint", "--config", join(REPO, "redocly.yaml"), "--format", "json", file]);
		const report = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as {
			totals: { errors: number; warnings: number };
			problems: { ruleId: string; message: string }[];
		};
		expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
		expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
	}, 60_000);

	test("Spectral (spectral:oas): no error, no warning", () => {
		const r = run([bin("spectral"), "lint", "--ruleset", join(REPO, ".spectral.yaml"), "--format", "json", file]);
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

	test("the stream's response lists every event of the catalogue with its payload schema", () => {
		const media = doc.paths["/sessions/{id}/stream"].get.responses["200"].content["text/event-stream"];
		const items = media.itemSchema.oneOf as Json[];
		const byName = Object.fromEntries(items.map((i) => [i.properties.event?.const, i]));
		for (const name of Object.keys(EVENT_CATALOGUE) as (keyof typeof EVENT_CATALOGUE)[]) {
			expect(byName[name]?.properties.data.contentSchema).toEqual(
				JSON.parse(JSON.stringify(EVENT_CATALOGUE[name].schema)),
			);
		}
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
	test("a fresh app has not loaded @elysiajs/openapi; the first /swagger/json loads it and answers the 3.2 document", () => {
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
			openapi: "3.2.0",
			sessions: true,
		});
	});
});
