import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { chownTree, installFor, startAsImage } from "../support/containment/as-image";
import { type CredentialsBackend, startCredentialsBackend } from "../support/credentials-backend";
import { type ScriptedLlm, startScriptedLlm } from "../support/scripted-llm";
import type { SidecarProcess } from "../support/sidecar-process";
import { type Received, readStream } from "../support/sse-client";
import { allPresent, NEEDS, testNeeding } from "../support/system";
import { makeTempDirs, type TempDirs } from "../support/workspace";

/**
 * Containment of STATE_DIR (issue 19): the agent runs as the sidecar's uid, so it can rewrite every
 * file the sidecar stores. Through a real session's `bash` tool (the real engine, driven by the
 * scripted LLM), against the sidecar started as the image starts it (uid 10001, the shared secret
 * set, CREDENTIALS_URL served by the fake backend), the agent runs test/support/containment/tamper.ts:
 * it forges the `complete` of an ended session W's log, points every other session's record at its
 * own server (and keeps doing so from a detached process), then SIGTERMs the sidecar, which is
 * started again on the same directories as the kubelet would.
 */
const secret = `shared-${crypto.randomUUID()}`;
const auth = { authorization: `Bearer ${secret}` };
const MARKER = "FORGED-ANSWER-1";

interface Attacker {
	readonly url: string;
	readonly requests: { method: string; path: string; authorization: string | null; body: string }[];
	stop(): Promise<void>;
}

/** The agent's own server: records whatever reaches it and answers like a provider that refuses. */
function startAttacker(): Attacker {
	const requests: Attacker["requests"] = [];
	const server = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		async fetch(req) {
			requests.push({
				method: req.method,
				path: new URL(req.url).pathname,
				authorization: req.headers.get("authorization"),
				body: await req.text(),
			});
			return Response.json({ error: { message: "no such model", type: "invalid_request_error" } }, { status: 400 });
		},
	});
	return { url: `http://127.0.0.1:${server.port}/v1`, requests, stop: () => server.stop(true) };
}

let llm: ScriptedLlm;
let backend: CredentialsBackend;
let attacker: Attacker;
let dirs: TempDirs;
let app: string;
let home: string;
let tmp: string;
let first: SidecarProcess;
let second: SidecarProcess;
let loopPid: number | undefined;
const v = { id: "", key: `sk-v-${crypto.randomUUID()}`, fetched: `sk-v-fetched-${crypto.randomUUID()}` };
const w = { id: "", key: `sk-w-${crypto.randomUUID()}`, fetched: `sk-w-fetched-${crypto.randomUUID()}` };
const followUpKey = `sk-w-follow-up-${crypto.randomUUID()}`;

const start = () =>
	startAsImage({
		app,
		workspace: dirs.workspace,
		state: dirs.state,
		home,
		tmp,
		secret,
		llm,
		env: { CREDENTIALS_URL: backend.url },
	});

const noBeats = (events: Received[]) => events.filter((e) => e.event !== "heartbeat");
const stream = async (id: string) =>
	noBeats((await readStream(`${second.url}/sessions/${id}/stream`, { headers: auth })).events);

// As the image runs it: as uid 10001 through setpriv (util-linux) when the tests run as root.
const test = testNeeding(NEEDS.setpriv);

beforeAll(async () => {
	if (!allPresent(NEEDS.setpriv)) return;
	llm = await startScriptedLlm();
	backend = startCredentialsBackend();
	attacker = startAttacker();
	dirs = makeTempDirs("sidecar-containment-state-");
	home = join(dirs.root, "home");
	tmp = join(dirs.root, "tmp");
	for (const d of [home, tmp, join(dirs.root, "out")]) mkdirSync(d, { mode: 0o700 });
	chownTree(dirs.root);
	app = installFor(dirs.root);
	first = await start();

	// W: ended, with an answer.
	llm.script(w.key, [{ kind: "text", text: "The real answer." }]);
	const wBody = sessionBody({ model_config: { api_key: w.key, api_endpoint: llm.url, enabled_tools: [] } });
	w.id = wBody.session_id;
	expect((await postSession(first.url, wBody, auth)).status).toBe(201);
	const wRun = await readStream(`${first.url}/sessions/${w.id}/stream`, { headers: auth });
	expect(wRun.events.at(-1)).toMatchObject({ event: "complete", data: { final_message: "The real answer." } });
	// V: running, its provider call open.
	llm.script(v.key, [{ kind: "hang" }]);
	const vBody = sessionBody({ model_config: { api_key: v.key, api_endpoint: llm.url, enabled_tools: [] } });
	v.id = vBody.session_id;
	expect((await postSession(first.url, vBody, auth)).status).toBe(201);
	await llm.waitForRequest((r) => r.key === v.key, 60_000);

	// The agent.
	const out = join(dirs.root, "out", "tamper.json");
	const aBody = sessionBody({
		prompt: "Read the README.",
		model_config: { api_endpoint: llm.url, enabled_tools: ["bash"] },
	});
	const command = [
		join(app, "node_modules/.bin/bun"),
		join(app, "test/support/containment/tamper.ts"),
		dirs.state,
		aBody.session_id,
		attacker.url,
		w.id,
		MARKER,
		String(first.pid),
		out,
	].join(" ");
	llm.script(aBody.model_config.api_key, [
		{ kind: "tool", calls: [{ name: "bash", args: { command, description: "look around" } }] },
		{ kind: "text", text: "Done." },
	]);
	expect((await postSession(first.url, aBody, auth)).status).toBe(201);
	await first.exited;
	const tampered = JSON.parse(readFileSync(out, "utf8")) as { loop: number; rewritten: number; forged: boolean };
	loopPid = tampered.loop;
	// The attack did what it meant to: W's log forged, V's and W's records rewritten.
	expect(tampered).toMatchObject({ forged: true });
	expect(tampered.rewritten).toBeGreaterThanOrEqual(2);

	// The backend hands the keys out again, as it would after any restart.
	backend.answer(v.id, { kind: "key", key: v.fetched });
	backend.answer(w.id, { kind: "key", key: w.fetched });
	second = await start();
}, 1_500_000);

afterAll(async () => {
	if (loopPid) {
		try {
			process.kill(loopPid, "SIGKILL");
		} catch {
			// Already gone.
		}
	}
	await first?.stop();
	await second?.stop();
	await backend?.close();
	await attacker?.stop();
	await llm?.close();
	dirs?.cleanup();
});

const metric = async (kind: string) => {
	const text = await (await fetch(`${second.url}/metrics`, { headers: auth })).text();
	const line = text
		.split("\n")
		.find((l) => l.startsWith(`opencode_sidecar_stored_data_unverified_total{kind="${kind}"}`));
	return Number(line?.split(" ").at(-1) ?? 0);
};

describe("an injected agent rewriting other sessions' records, then SIGTERMing the sidecar", () => {
	test("no key reaches its server: the running session is not resumed, the ended one not continued; the tampering is reported", async () => {
		// V, running at the restart, and W, ended, continued by the backend as documented (with and without
		// api_key): everything the backend would do, before looking at what reached the attacker.
		const vEvents = await stream(v.id);
		const answers: { status: number; body: Record<string, unknown> }[] = [];
		for (const body of [{ prompt: "Continue.", api_key: followUpKey }, { prompt: "Continue." }]) {
			const res = await fetch(`${second.url}/sessions/${w.id}/messages`, {
				method: "POST",
				headers: { "content-type": "application/json", ...auth },
				body: JSON.stringify(body),
			});
			answers.push({ status: res.status, body: (await res.json()) as Record<string, unknown> });
			// Accepted (main before issue 19): its run goes to the endpoint in the record; wait for its end.
			if (res.status === 202) await stream(w.id);
		}

		// The attacker's server received nothing: no key, no call.
		expect(attacker.requests.map((r) => `${r.method} ${r.path} ${r.authorization}`)).toEqual([]);
		// V's record does not verify: it ends interrupted without its key being asked for.
		expect(vEvents.slice(-2)).toMatchObject([
			{ event: "status", data: { status: "failed" } },
			{ event: "error", data: { fatal: true, code: "interrupted" } },
		]);
		expect(String(vEvents.at(-1)?.data.error)).toContain("failed verification");
		expect(backend.asks.filter((a) => a.session_id === v.id)).toEqual([]);
		// W is not continued.
		for (const a of answers) expect(a).toMatchObject({ status: 409, body: { code: "session_unverified" } });
		// Reported: a log line per session and the metric (the Event: test/unit/stored-mac.test.ts).
		// (Log lines come through a pipe, after the answers that the events behind them shaped: waited for.)
		for (const id of [v.id, w.id]) {
			await second.waitForLog((l) => l.session_id === id && String(l.msg).includes("failed verification"));
		}
		expect(await metric("record")).toBeGreaterThanOrEqual(2);
	});
});

describe("an injected agent forging an ended session's log", () => {
	test("the replay stops before the forged event with a fatal history_unverified error; the forged text is never sent", async () => {
		const events = await stream(w.id);
		expect(JSON.stringify(events)).not.toContain(MARKER);
		expect(events.at(-1)).toMatchObject({ event: "error", data: { fatal: true, code: "history_unverified" } });
		// Everything before the forged event is sent as stored.
		expect(events.slice(0, -1).every((e, i) => e.id === i + 1)).toBe(true);
		expect(events.some((e) => e.event === "status")).toBe(true);
		await second.waitForLog((l) => l.session_id === w.id && l.event_id !== undefined);
		expect(await metric("log")).toBeGreaterThanOrEqual(1);
	});
});
