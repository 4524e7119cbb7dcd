import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Event as EventModel } from "kubernetes-models/v1/Event";
import { parseConfig } from "../../src/config/parse";
import { SUMMARY_ANNOTATION } from "../../src/k8s/summary";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import type { LifecycleEvent } from "../../src/sessions/manager";
import { createSidecar, type Sidecar } from "../../src/sidecar";
import { sessionBody } from "../support/api";
import { engineRelease } from "../support/engine-release";
import { type ScriptedLlm, startScriptedLlm, type Turn } from "../support/scripted-llm";
import { allPresent, NEEDS, testNeeding } from "../support/system";
import { makeTempDirs, type TempDirs } from "../support/workspace";
import {
	type FakeApiServer,
	makeServiceAccountDir,
	makeTestPki,
	type RecordedCall,
	startFakeApiServer,
} from "./support/fake-apiserver";

/**
 * The reporter inside a real sidecar (real engine, scripted LLM), against the
 * fake API server: every lifecycle step of real sessions becomes an Event on
 * the pod, and a failing or hanging API server changes nothing for sessions.
 */

const TOKEN = "sa-token-for-the-sidecar-test";
const NS = "opencode-tasks";
const POD = "opencode-task";
const POD_UID = "9a8b7c6d-1111-4222-8333-444455556666";

let tmp: string;
let saDir: string;
let fake: FakeApiServer;
let llm: ScriptedLlm;

// The fake API server's certificates are made with openssl.
const test = testNeeding(NEEDS.openssl);

beforeAll(async () => {
	if (!allPresent(NEEDS.openssl)) return;
	tmp = mkdtempSync(join(tmpdir(), "k8s-sidecar-"));
	const pki = makeTestPki(join(tmp, "pki"));
	saDir = makeServiceAccountDir(join(tmp, "serviceaccount"), pki.caFile, TOKEN, NS);
	fake = startFakeApiServer(pki);
	llm = await startScriptedLlm();
});

afterAll(async () => {
	await fake?.close();
	await llm?.close();
	if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Running {
	readonly sidecar: Sidecar;
	readonly logLines: string[];
	post(body: unknown): Promise<Response>;
	cancel(id: string): Promise<Response>;
	/** Resolves with the lifecycle event that ends the session's run. */
	ended(id: string): Promise<LifecycleEvent>;
}

async function start(dirs: TempDirs, env: Record<string, string> = {}): Promise<Running> {
	const config = parseConfig(
		{
			PORT: "0",
			HOST: "127.0.0.1",
			LOG_LEVEL: "debug",
			WORKSPACE_DIR: dirs.workspace,
			STATE_DIR: dirs.state,
			K8S_REPORTER: "auto",
			POD_NAME: POD,
			POD_NAMESPACE: NS,
			POD_UID,
			...env,
		},
		resolve(import.meta.dir, "../.."),
	);
	const logLines: string[] = [];
	const log = createLogger(config.logLevel, { write: (line: string) => void logLines.push(line) });
	const sidecar = createSidecar(config, systemClock, log, {
		release: await engineRelease(),
		kubernetes: {
			env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(fake.port) },
			serviceAccountDir: saDir,
		},
	});
	const ends = new Map<string, (e: LifecycleEvent) => void>();
	const seen = new Map<string, LifecycleEvent>();
	sidecar.sessions.onLifecycle((e) => {
		if (e.status === "running" || e.status === "pending") return;
		seen.set(e.session_id, e);
		ends.get(e.session_id)?.(e);
	});
	await sidecar.engine.whenReady();
	const handle = (path: string, init?: RequestInit) => sidecar.app.handle(new Request(`http://localhost${path}`, init));
	return {
		sidecar,
		logLines,
		post: (body) =>
			handle("/sessions", {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify(body),
			}),
		cancel: (id) => handle(`/sessions/${id}`, { method: "DELETE" }),
		ended: (id) => {
			const done = seen.get(id);
			return done ? Promise.resolve(done) : new Promise((r) => ends.set(id, r));
		},
	};
}

function scripted(turns: Turn[]) {
	const key = `sk-k8s-${crypto.randomUUID()}`;
	llm.script(key, turns);
	return sessionBody({ model_config: { api_key: key, api_endpoint: llm.url } });
}

const isEvent = (c: RecordedCall) => c.method === "POST" && c.path === `/api/v1/namespaces/${NS}/events`;
const isPatch = (c: RecordedCall) => c.method === "PATCH" && c.path === `/api/v1/namespaces/${NS}/pods/${POD}`;
const eventFor = (id: string, reason: string) => (c: RecordedCall) =>
	isEvent(c) && c.body.involvedObject.name === POD && c.body.reason === reason && c.body.message.includes(id);

describe("a sidecar in a cluster", () => {
	test("records every session's lifecycle as Events on its pod and keeps the summary annotation current", async () => {
		const dirs = makeTempDirs();
		let second: Running | undefined;
		// 15 s: the completed run finishes well inside it on a loaded machine (4 s timed it out at load ~10).
		const first = await start(dirs, { SESSION_TIMEOUT: "15" });
		try {
			const completed = scripted([{ kind: "text", text: "All done." }]);
			const failed = scripted([{ kind: "error", status: 401, message: "invalid api key" }]);
			const cancelled = scripted([{ kind: "hang" }]);
			const timedOut = scripted([{ kind: "hang" }]);
			const interrupted = scripted([{ kind: "hang" }]);
			for (const body of [completed, failed, cancelled, timedOut]) expect((await first.post(body)).status).toBe(201);
			expect((await first.ended(completed.session_id)).status).toBe("completed");
			expect((await first.ended(failed.session_id)).status).toBe("failed");
			expect((await first.cancel(cancelled.session_id)).status).toBe(200);
			expect((await first.ended(timedOut.session_id)).status).toBe("timeout");
			await fake.waitFor(eventFor(timedOut.session_id, "SessionTimedOut"));

			// A run still going when the sidecar stops ends `interrupted` when it starts again.
			expect((await first.post(interrupted)).status).toBe(201);
			await fake.waitFor(eventFor(interrupted.session_id, "SessionStarted"));
			await first.sidecar.stop();
			second = await start(dirs);
			await fake.waitFor(eventFor(interrupted.session_id, "SessionInterrupted"));
			const finalPatch = await fake.waitFor(
				(c) => isPatch(c) && JSON.parse(c.body.metadata.annotations[SUMMARY_ANNOTATION]).counts.failed === 2,
			);

			const reasons = (id: string) =>
				fake.calls.filter((c) => isEvent(c) && c.body.message.includes(id)).map((c) => c.body.reason);
			expect(reasons(completed.session_id)).toEqual(["SessionStarted", "SessionCompleted"]);
			expect(reasons(failed.session_id)).toEqual(["SessionStarted", "SessionFailed"]);
			expect(reasons(cancelled.session_id)).toEqual(["SessionStarted", "SessionCancelled"]);
			expect(reasons(timedOut.session_id)).toEqual(["SessionStarted", "SessionTimedOut"]);
			expect(reasons(interrupted.session_id)).toEqual(["SessionStarted", "SessionInterrupted"]);

			const failure = fake.calls.find(eventFor(failed.session_id, "SessionFailed"));
			expect(failure?.body).toMatchObject({
				type: "Warning",
				involvedObject: { kind: "Pod", name: POD, namespace: NS, uid: POD_UID },
			});
			expect(failure?.body.message).toContain("(provider_auth)");
			for (const c of fake.calls.filter(isEvent)) expect(() => new EventModel(c.body).validate()).not.toThrow();
			for (const c of fake.calls) expect(c.authorization).toBe(`Bearer ${TOKEN}`);
			// No session's key ever reaches the API server.
			const wire = JSON.stringify(fake.calls);
			for (const body of [completed, failed, cancelled, timedOut, interrupted])
				expect(wire).not.toContain(body.model_config.api_key);

			expect(finalPatch.contentType).toBe("application/merge-patch+json");
			expect(JSON.parse(finalPatch.body.metadata.annotations[SUMMARY_ANNOTATION])).toMatchObject({
				counts: { cancelled: 1, completed: 1, failed: 2, timeout: 1 },
				active: [],
				active_more: 0,
			});
		} finally {
			await second?.sidecar.stop();
			fake.calls.length = 0;
			dirs.cleanup();
		}
	});

	test("an API server that fails or never answers changes nothing for sessions", async () => {
		const dirs = makeTempDirs();
		const sidecar = await start(dirs);
		try {
			fake.behaviour = "error";
			const one = scripted([{ kind: "text", text: "Done despite the API server." }]);
			expect((await sidecar.post(one)).status).toBe(201);
			expect((await sidecar.ended(one.session_id)).status).toBe("completed");
			await fake.waitFor(eventFor(one.session_id, "SessionCompleted"));
			expect(sidecar.logLines.some((l) => l.includes("kubernetes event not recorded") && l.includes("HTTP 500"))).toBe(
				true,
			);

			fake.behaviour = "hang";
			const two = scripted([
				{
					kind: "tool",
					calls: [{ name: "write", args: { filePath: "k8s-hang.txt", content: "written while the API hangs\n" } }],
				},
				{ kind: "text", text: "Wrote it." },
			]);
			expect((await sidecar.post(two)).status).toBe(201);
			await fake.waitFor(eventFor(two.session_id, "SessionStarted"));
			const end = await sidecar.ended(two.session_id);
			expect(end.status).toBe("completed");
			expect(fake.pending).toBeGreaterThan(0); // the API server still has not answered
			expect(await Bun.file(join(dirs.workspace, "k8s-hang.txt")).text()).toBe("written while the API hangs\n");

			// Stopping does not wait on the API server beyond the reporter's grace period.
			const t0 = performance.now();
			await sidecar.sidecar.stop();
			expect(performance.now() - t0).toBeLessThan(10_000);
		} finally {
			fake.behaviour = "ok";
			fake.calls.length = 0;
			dirs.cleanup();
		}
	});
});
