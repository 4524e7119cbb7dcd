import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { postSession, sessionBody } from "../support/api";
import { type CredentialsBackend, startCredentialsBackend } from "../support/credentials-backend";
import { useE2eSidecar } from "../support/e2e";
import type { Turn } from "../support/scripted-llm";
import type { SidecarProcess } from "../support/sidecar-process";
import { type Received, readStream } from "../support/sse-client";

/**
 * CREDENTIALS_URL: keys survive a sidecar restart without being stored, and a
 * rotated key is fetched once after a provider 401. The backend's endpoint is
 * a local server speaking the wire format; the keys it hands out, like every
 * key of the file, must appear in no log, event, response or state file.
 */
const SECRET = `shared-${crypto.randomUUID()}`;
const auth = { authorization: `Bearer ${SECRET}` };
const e2e = useE2eSidecar({
	sidecar: false,
	secrets: [SECRET],
	env: { OPENCODE_SHARED_SECRET: SECRET, MAX_CONCURRENT_SESSIONS: "10" },
});
let backend: CredentialsBackend;
beforeAll(() => {
	backend = startCredentialsBackend();
});
afterAll(async () => {
	await backend.close();
});

const noBeats = (events: Received[]) => events.filter((e) => e.event !== "heartbeat");
const withBackend = (extra: Record<string, string> = {}) => ({ CREDENTIALS_URL: backend.url, ...extra });

async function startRun(sidecar: SidecarProcess, prefix: string, turns: Turn[]) {
	const key = e2e.newKey(prefix, turns);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
	const res = await postSession(sidecar.url, body, auth);
	e2e.bodies.push(await res.text());
	expect(res.status).toBe(201);
	return { id: body.session_id, key };
}

/** A run long enough to be killed in the middle: 40 deltas 150 ms apart. */
const SLOW: Turn[] = [
	{ kind: "text", text: Array.from({ length: 40 }, (_, i) => `w${i}`).join(" "), chunks: 40, delayMs: 150 },
];

async function events(sidecar: SidecarProcess, id: string): Promise<Received[]> {
	const got = noBeats((await readStream(`${sidecar.url}/sessions/${id}/stream`, { headers: auth })).events);
	e2e.seen.push(got);
	return got;
}

async function status(sidecar: SidecarProcess, id: string): Promise<Record<string, unknown>> {
	const text = await (await fetch(`${sidecar.url}/sessions/${id}/status`, { headers: auth })).text();
	e2e.bodies.push(text);
	return JSON.parse(text) as Record<string, unknown>;
}

describe("a sidecar SIGKILLed mid-run and started again with CREDENTIALS_URL", () => {
	test("fetches the key (reason restart) and resumes the run by itself, which completes", async () => {
		const dirs = e2e.makeDirs();
		const first = await e2e.start({ dirs, env: withBackend() });
		const s = await startRun(first, "sk-restart", SLOW);
		await readStream(`${first.url}/sessions/${s.id}/stream`, {
			headers: auth,
			until: (_e, all) => all.filter((x) => x.event === "output").length >= 3,
		});
		await first.kill("SIGKILL");
		// The backend hands the key out again (it may have rotated: here a new one).
		const renewed = e2e.newKey("sk-restart-fetched", [{ kind: "text", text: "Resumed and finished." }]);
		backend.answer(s.id, { kind: "key", key: renewed });

		const second = await e2e.start({ dirs, env: withBackend() });
		const all = await events(second, s.id);
		expect(backend.asks.filter((a) => a.session_id === s.id)).toEqual([
			{ session_id: s.id, provider: "openai-compatible", reason: "restart", authorization: `Bearer ${SECRET}` },
		]);
		const notice = all.find((e) => e.event === "error" && e.data.code === "interrupted");
		expect(notice?.data).toMatchObject({ fatal: false });
		expect(String(notice?.data.error)).toContain("CREDENTIALS_URL");
		expect(all.at(-1)).toMatchObject({ event: "complete", data: { final_message: "Resumed and finished." } });
		// The resumed call went out with the fetched key, in the same conversation.
		const resumed = e2e.llm.requests.filter((r) => r.key === renewed);
		expect(resumed).toHaveLength(1);
		expect(JSON.stringify(resumed[0]?.body)).toContain("interrupted by a restart");
		expect(await status(second, s.id)).toMatchObject({ status: "completed" });
		await second.stop();
	});

	test("every failure of the endpoint ends the run failed interrupted, naming the cause; none hangs", async () => {
		const dirs = e2e.makeDirs();
		const first = await e2e.start({ dirs, env: withBackend() });
		const cases = [
			{ answer: { kind: "status", status: 404 } as const, words: "answered HTTP 404" },
			{ answer: { kind: "status", status: 503 } as const, words: "answered HTTP 503" },
			{ answer: { kind: "raw", body: "not json" } as const, words: "not JSON" },
			{ answer: { kind: "json", body: { token: "x" } } as const, words: "no api_key" },
			{ answer: { kind: "hang" } as const, words: "did not answer within 1s (CREDENTIALS_TIMEOUT)" },
		];
		const runs = [];
		for (const c of cases) {
			const s = await startRun(first, "sk-fail", SLOW);
			backend.answer(s.id, c.answer);
			runs.push({ ...s, words: c.words });
		}
		for (const r of runs) await e2e.llm.waitForRequest((q) => q.key === r.key, 60_000);
		await first.kill("SIGKILL");

		const second = await e2e.start({ dirs, env: withBackend({ CREDENTIALS_TIMEOUT: "1" }) });
		for (const r of runs) {
			const all = await events(second, r.id);
			expect(all.slice(-2)).toMatchObject([
				{ event: "status", data: { status: "failed" } },
				{ event: "error", data: { fatal: true, code: "interrupted" } },
			]);
			expect(all.at(-1)?.data.error).toContain(r.words);
			expect(await status(second, r.id)).toMatchObject({ status: "failed", error: { code: "interrupted" } });
		}
		// The endpoint down: the run ends the same way.
		const g = await startRun(second, "sk-down", SLOW);
		await e2e.llm.waitForRequest((q) => q.key === g.key, 60_000);
		await second.kill("SIGKILL");
		const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
		const down = `http://127.0.0.1:${closed.port}/credentials`;
		await closed.stop(true);
		const third = await e2e.start({ dirs, env: { CREDENTIALS_URL: down } });
		const all = await events(third, g.id);
		expect(all.at(-1)).toMatchObject({ event: "error", data: { fatal: true, code: "interrupted" } });
		expect(all.at(-1)?.data.error).toContain("could not be reached");
		await third.stop();
	});
});

describe("a follow-up after a sidecar restart, without api_key", () => {
	test("fetches the key (reason restart) and the new run completes; a failed fetch answers 409 naming the cause", async () => {
		const dirs = e2e.makeDirs();
		const first = await e2e.start({ dirs, env: withBackend() });
		const s = await startRun(first, "sk-before", [{ kind: "text", text: "First run done." }]);
		const failing = await startRun(first, "sk-before-too", [{ kind: "text", text: "Also done." }]);
		for (const id of [s.id, failing.id]) {
			expect((await events(first, id)).at(-1)).toMatchObject({ event: "complete" });
		}
		await first.stop();
		const fetched = e2e.newKey("sk-followup-fetched", [{ kind: "text", text: "Continued after the restart." }]);
		backend.answer(s.id, { kind: "key", key: fetched });
		backend.answer(failing.id, { kind: "status", status: 404 });

		const second = await e2e.start({ dirs, env: withBackend() });
		const send = (id: string) =>
			fetch(`${second.url}/sessions/${id}/messages`, {
				method: "POST",
				headers: { ...auth, "content-type": "application/json" },
				body: JSON.stringify({ prompt: "Now the second part." }),
			});
		const res = await send(s.id);
		const text = await res.text();
		e2e.bodies.push(text);
		expect(res.status).toBe(202);
		expect(JSON.parse(text)).toMatchObject({ session_id: s.id, status: "running", queued: 0 });
		expect(backend.asks.filter((a) => a.session_id === s.id)).toEqual([
			{ session_id: s.id, provider: "openai-compatible", reason: "restart", authorization: `Bearer ${SECRET}` },
		]);
		const all = await events(second, s.id);
		expect(all.at(-1)).toMatchObject({ event: "complete", data: { final_message: "Continued after the restart." } });
		expect(e2e.llm.requests.filter((r) => r.key === fetched)).toHaveLength(1);

		const refused = await send(failing.id);
		const body = await refused.text();
		e2e.bodies.push(body);
		expect(refused.status).toBe(409);
		expect(JSON.parse(body)).toMatchObject({ code: "credentials_unavailable" });
		expect(body).toContain("the credentials endpoint answered HTTP 404");
		expect(await status(second, failing.id)).toMatchObject({ status: "completed" });
		await second.stop();
	});
});

describe("a provider 401 in the middle of a run", () => {
	let sidecar: SidecarProcess;
	beforeAll(async () => {
		sidecar = await e2e.start({ dirs: e2e.makeDirs(), env: withBackend() });
	});

	test("fetches a new key once (reason unauthorized), makes the call again with it, and the run completes", async () => {
		const s = await startRun(sidecar, "sk-rotated", [
			{ kind: "tool", calls: [{ name: "bash", args: { command: "echo step one", description: "step" } }] },
			{ kind: "error", status: 401, message: "Incorrect API key provided" },
		]);
		const fresh = e2e.newKey("sk-fresh", [{ kind: "text", text: "Finished with the new key." }]);
		backend.answer(s.id, { kind: "key", key: fresh });
		const all = await events(sidecar, s.id);
		expect(all.at(-1)).toMatchObject({ event: "complete", data: { final_message: "Finished with the new key." } });
		expect(all.some((e) => e.event === "error")).toBe(false);
		expect(backend.asks.filter((a) => a.session_id === s.id).map((a) => a.reason)).toEqual(["unauthorized"]);
		expect(e2e.llm.requests.filter((r) => r.key === s.key)).toHaveLength(2);
		expect(e2e.llm.requests.filter((r) => r.key === fresh)).toHaveLength(1);
	});

	test("a second 401 with the new key fails the run with provider_auth, after one fetch", async () => {
		const s = await startRun(sidecar, "sk-rejected", [{ kind: "error", status: 401, message: "Incorrect API key" }]);
		const alsoBad = e2e.newKey("sk-also-bad", [{ kind: "error", status: 401, message: "Incorrect API key" }]);
		backend.answer(s.id, { kind: "key", key: alsoBad });
		const all = await events(sidecar, s.id);
		expect(all.at(-1)).toMatchObject({ event: "error", data: { fatal: true, code: "provider_auth" } });
		expect(backend.asks.filter((a) => a.session_id === s.id)).toHaveLength(1);
	});

	test("an endpoint that fails after a 401 ends the run failed interrupted, naming the cause", async () => {
		const s = await startRun(sidecar, "sk-no-renewal", [{ kind: "error", status: 401, message: "Incorrect API key" }]);
		backend.answer(s.id, { kind: "status", status: 404 });
		const all = await events(sidecar, s.id);
		expect(all.slice(-2)).toMatchObject([
			{ event: "status", data: { status: "failed" } },
			{ event: "error", data: { fatal: true, code: "interrupted" } },
		]);
		expect(all.at(-1)?.data.error).toContain(
			"the provider rejected the key (401); the credentials endpoint answered HTTP 404",
		);
	});
});
