import { describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { readSse } from "../faults/helpers";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";

/**
 * Containment, issue 19 item 2: only the backend's requests. A web page can
 * POST text/plain, a form or multipart to the sidecar without a CORS
 * preflight, and a page that rebinds its own DNS name to the pod's address
 * reaches it under that name. Through `app.handle` of a real in-process
 * sidecar (engine, scripted LLM): such requests are refused with the
 * envelope and start nothing; the backend's, the probes' and our own pages'
 * requests are answered as before.
 */
const POD = "opencode-task-7";
const suite = useInProcess({ POD_NAME: POD, ALLOWED_HOSTS: "sidecar.internal.example,.svc.cluster.local" });

async function expectEnvelope(res: Response, status: number, code: string) {
	expect(res.status).toBe(status);
	expect(res.headers.get("content-type")).toStartWith("application/json");
	const body = (await res.json()) as Record<string, unknown>;
	expect(body).toMatchObject({ code });
	expect(typeof body.error).toBe("string");
	for (const name of res.headers.keys()) expect(name).not.toStartWith("access-control-");
	return body;
}

const sessionIds = async (): Promise<string[]> => {
	const res = await suite.handle("/sessions");
	expect(res.status).toBe(200);
	return ((await res.json()) as { sessions: { session_id: string }[] }).sessions.map((s) => s.session_id);
};

/** A body as a web page can send it to another origin without a preflight (or curl -d without -H). */
const NOT_JSON: [string, Record<string, string>][] = [
	["text/plain", { "content-type": "text/plain" }],
	["text/plain;charset=UTF-8 (what fetch sets for a string body)", { "content-type": "text/plain;charset=UTF-8" }],
	["application/x-www-form-urlencoded", { "content-type": "application/x-www-form-urlencoded" }],
	["multipart/form-data", { "content-type": "multipart/form-data; boundary=x" }],
	["no content type at all", {}],
];

describe("containment: requests from a web page (415: JSON bodies only)", () => {
	test("POST /sessions with a valid session as text/plain, a form, multipart or no type: 415, nothing started", async () => {
		const before = suite.llm.requests.length;
		for (const [label, headers] of NOT_JSON) {
			const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
			suite.keys.push(body.model_config.api_key);
			const res = await suite.handle("/sessions", { method: "POST", headers, body: JSON.stringify(body) });
			const envelope = await expectEnvelope(res, 415, "unsupported_media_type");
			expect(JSON.stringify(envelope), label).not.toContain(body.model_config.api_key);
		}
		// The same without a declared length (chunked), and without a type.
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		const chunked = new ReadableStream({
			start(c) {
				c.enqueue(new TextEncoder().encode(JSON.stringify(body)));
				c.close();
			},
		});
		await expectEnvelope(
			await suite.handle("/sessions", { method: "POST", body: chunked }),
			415,
			"unsupported_media_type",
		);
		expect(await sessionIds()).toEqual([]);
		expect(suite.llm.requests.length).toBe(before);
	});

	test("follow-ups and answers as text/plain, a form or no type: 415; the ended session stays as it was", async () => {
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [{ kind: "text", text: "First run." }]);
		const created = await suite.post(body);
		expect(created.status).toBe(201);
		const id = body.session_id;
		await readSse(await suite.handle(`/sessions/${id}/stream`), (e) => e.event === "complete");
		const statusBefore = await (await suite.handle(`/sessions/${id}/status`)).json();
		const llmBefore = suite.llm.requests.length;
		for (const [label, headers] of NOT_JSON) {
			const followUp = JSON.stringify({ prompt: "run rm -rf /workspace", api_key: body.model_config.api_key });
			const res = await suite.handle(`/sessions/${id}/messages`, { method: "POST", headers, body: followUp });
			await expectEnvelope(res, 415, "unsupported_media_type");
			const answer = JSON.stringify({ answers: [["yes"]] });
			const answered = await suite.handle(`/sessions/${id}/questions/que_${label.length}`, {
				method: "POST",
				headers,
				body: answer,
			});
			await expectEnvelope(answered, 415, "unsupported_media_type");
		}
		expect(await (await suite.handle(`/sessions/${id}/status`)).json()).toEqual(statusBefore);
		expect(suite.llm.requests.length).toBe(llmBefore);
		// application/json with a UTF-8 charset is JSON.
		const again = await suite.handle(`/sessions/${id}/messages`, {
			method: "POST",
			headers: { "content-type": "application/json; charset=utf-8" },
			body: JSON.stringify({ prompt: "Again.", api_key: body.model_config.api_key }),
		});
		expect(again.status).toBe(202);
	});
});

describe("containment: requests from a web page (421: a Host the sidecar does not answer to)", () => {
	const ROUTES: [string, string][] = [
		["GET", "/healthz"],
		["GET", "/health"],
		["GET", "/ready"],
		["GET", "/metrics"],
		["GET", "/sessions"],
		["POST", "/sessions"],
		["GET", "/sessions/00000000-0000-4000-8000-000000000000/status"],
		["GET", "/sessions/00000000-0000-4000-8000-000000000000/stream"],
		["GET", "/sessions/00000000-0000-4000-8000-000000000000/diff"],
		["GET", "/sessions/00000000-0000-4000-8000-000000000000/messages"],
		["POST", "/sessions/00000000-0000-4000-8000-000000000000/messages"],
		["POST", "/sessions/00000000-0000-4000-8000-000000000000/questions/que_1"],
		["DELETE", "/sessions/00000000-0000-4000-8000-000000000000"],
		["GET", "/ui"],
		["GET", "/swagger"],
		["GET", "/swagger/json"],
	];

	test.each(["attacker.rebind.example", "evil.com:3003"])("Host %s is refused on every route", async (host) => {
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		for (const [method, path] of ROUTES) {
			const res = await suite.handle(path, {
				method,
				headers: { host, "content-type": "application/json" },
				...(method === "POST" ? { body: JSON.stringify(body) } : {}),
			});
			await expectEnvelope(res, 421, "misdirected_request");
		}
		expect(await sessionIds()).not.toContain(body.session_id);
	});

	test.each([
		"127.0.0.1:3003",
		"[::1]:3003",
		"10.1.2.3:3003",
		"localhost:3003",
		POD,
		`${POD}:3003`,
		"sidecar.internal.example:3003",
		"opencode-task.tasks.svc.cluster.local:3003",
	])("Host %s is answered", async (host) => {
		expect((await suite.handle("/sessions", { headers: { host } })).status).toBe(200);
		expect((await suite.handle("/healthz", { headers: { host } })).status).toBe(200);
	});
});

describe("containment: requests from a web page (403: another origin)", () => {
	test("a valid JSON POST /sessions from a foreign Origin is refused, nothing started", async () => {
		const before = suite.llm.requests.length;
		for (const origin of ["http://evil.com", "http://127.0.0.1:8080", "null"]) {
			const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
			suite.keys.push(body.model_config.api_key);
			const res = await suite.handle("/sessions", {
				method: "POST",
				headers: { host: "127.0.0.1:3003", origin, "content-type": "application/json" },
				body: JSON.stringify(body),
			});
			const envelope = await expectEnvelope(res, 403, "cross_origin_request");
			expect(envelope.details).toEqual({ header: "Origin" });
			expect(await sessionIds()).not.toContain(body.session_id);
		}
		expect(suite.llm.requests.length).toBe(before);
	});

	test("foreign Origin on a GET, and a cross-site Sec-Fetch-Site fetch without Origin, are refused", async () => {
		const foreign = await suite.handle("/sessions", { headers: { host: "localhost:3003", origin: "http://evil.com" } });
		await expectEnvelope(foreign, 403, "cross_origin_request");
		const noCors = await suite.handle("/sessions", {
			headers: { host: "127.0.0.1:3003", "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors" },
		});
		const envelope = await expectEnvelope(noCors, 403, "cross_origin_request");
		expect(envelope.details).toEqual({ header: "Sec-Fetch-Site" });
	});

	test("same-origin requests (our pages, Swagger UI's Try it out) and a link to /ui from elsewhere are answered", async () => {
		const same = { host: "localhost:3003", origin: "http://localhost:3003", "sec-fetch-site": "same-origin" };
		expect((await suite.handle("/sessions", { headers: same })).status).toBe(200);
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [{ kind: "text", text: "From the page." }]);
		const created = await suite.handle("/sessions", {
			method: "POST",
			headers: { ...same, "content-type": "application/json", "sec-fetch-mode": "cors" },
			body: JSON.stringify(body),
		});
		expect(created.status).toBe(201);
		const link = { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" };
		expect((await suite.handle("/ui", { headers: link })).status).toBe(200);
	});
});

describe("containment: requests from a web page (with OPENCODE_SHARED_SECRET)", () => {
	// The refusals come before the token check and before any service is asked: an app on stub services shows it.
	const SECRET = `secret-${crypto.randomUUID()}`;
	const stub = {} as never;
	const app = createApp({
		sessions: stub,
		streams: stub,
		readiness: stub,
		clock: systemClock,
		log: createLogger("error"),
		maxBodyBytes: 65536,
		sharedSecret: SECRET,
		version: "test",
	});
	const send = (headers: Record<string, string>, body?: string) =>
		app.handle(
			new Request("http://localhost/sessions", {
				method: body === undefined ? "GET" : "POST",
				headers: { authorization: `Bearer ${SECRET}`, ...headers },
				...(body === undefined ? {} : { body }),
			}),
		);

	test("the right token does not let a foreign Host, a foreign Origin or a text/plain body through", async () => {
		await expectEnvelope(await send({ host: "attacker.rebind.example" }), 421, "misdirected_request");
		await expectEnvelope(await send({ origin: "http://evil.com" }), 403, "cross_origin_request");
		await expectEnvelope(await send({ "content-type": "text/plain" }, "{}"), 415, "unsupported_media_type");
	});

	test("a foreign Host without a token is refused as misdirected, before the token is asked for", async () => {
		const res = await app.handle(
			new Request("http://localhost/sessions", { headers: { host: "attacker.rebind.example" } }),
		);
		await expectEnvelope(res, 421, "misdirected_request");
	});
});
