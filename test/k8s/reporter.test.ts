import { afterAll, afterEach, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Event as EventModel } from "kubernetes-models/v1/Event";
import { parseConfig } from "../../src/config/parse";
import { connectKubernetes } from "../../src/k8s/api";
import type { ClusterTarget } from "../../src/k8s/cluster";
import { buildEvent } from "../../src/k8s/event";
import { KubernetesReporter } from "../../src/k8s/reporter";
import { startKubernetesReporter } from "../../src/k8s/start";
import { type SessionBrief, SUMMARY_ANNOTATION } from "../../src/k8s/summary";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { ManualClock } from "../support/manual-clock";
import { allPresent, NEEDS, testNeeding } from "../support/system";
import {
	type FakeApiServer,
	makeServiceAccountDir,
	makeTestPki,
	POD_UID_FROM_API,
	type RecordedCall,
	startFakeApiServer,
	type TestPki,
} from "./support/fake-apiserver";

const TOKEN = "eyJhbGciOiJSUzI1NiJ9.test-service-account-token";
const NS = "tasks";
const POD = "opencode-task-7";
const UID = "6f1c2b3a-0000-4000-8000-00000000c0de";

let dir: string;
let pki: TestPki;
let rogue: TestPki;
let fake: FakeApiServer;
let saDir: string;

// The fake API server's certificates are made with openssl.
const test = testNeeding(NEEDS.openssl);

beforeAll(() => {
	if (!allPresent(NEEDS.openssl)) return;
	dir = mkdtempSync(join(tmpdir(), "k8s-reporter-"));
	pki = makeTestPki(join(dir, "pki"), "cluster");
	rogue = makeTestPki(join(dir, "pki"), "rogue");
	saDir = makeServiceAccountDir(join(dir, "serviceaccount"), pki.caFile, TOKEN, NS);
	fake = startFakeApiServer(pki);
});

afterEach(() => {
	if (!fake) return;
	fake.calls.length = 0;
	fake.behaviour = "ok";
});

afterAll(async () => {
	await fake?.close();
	if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A logger whose lines a test can wait for. */
function captureLog() {
	const lines: Record<string, unknown>[] = [];
	const waiters: { msg: string; resolve: () => void }[] = [];
	const log = createLogger("debug", {
		write(line: string) {
			const entry = JSON.parse(line) as Record<string, unknown>;
			lines.push(entry);
			for (const w of [...waiters])
				if (entry.msg === w.msg) {
					waiters.splice(waiters.indexOf(w), 1);
					w.resolve();
				}
		},
	});
	const waitFor = (msg: string, count = 1) =>
		new Promise<void>((res) => {
			const seen = () => lines.filter((l) => l.msg === msg).length >= count;
			if (seen()) return res();
			const check = () => (seen() ? res() : waiters.push({ msg, resolve: check }));
			waiters.push({ msg, resolve: check });
		});
	return { log, lines, waitFor };
}

const target = (port: number, caFile = pki.caFile, uid: string | undefined = UID): ClusterTarget => ({
	server: `https://127.0.0.1:${port}`,
	caFile,
	tokenFile: join(saDir, "token"),
	pod: { name: POD, namespace: NS, ...(uid ? { uid } : {}) },
});

const step = (id: number, status: string, code?: string, message?: string) => ({
	session_id: `00000000-0000-4000-8000-00000000000${id}`,
	status,
	...(code ? { code } : {}),
	...(message ? { message } : {}),
});

const isEvent = (c: RecordedCall) => c.method === "POST" && c.path === `/api/v1/namespaces/${NS}/events`;
const isPatch = (c: RecordedCall) => c.method === "PATCH" && c.path === `/api/v1/namespaces/${NS}/pods/${POD}`;
const summaryOf = (c: RecordedCall) => JSON.parse(c.body.metadata.annotations[SUMMARY_ANNOTATION]);

describe("the Kubernetes reporter", () => {
	test("sends one Event per lifecycle step, in order, with the service-account token, then the summary annotation", async () => {
		const { log } = captureLog();
		let sessions: SessionBrief[] = [];
		const config = parseConfig(
			{ K8S_REPORTER: "on", POD_NAME: POD, POD_NAMESPACE: "", POD_UID: UID },
			resolve(import.meta.dir, "../.."),
		);
		const reporter = startKubernetesReporter(
			{ config, clock: systemClock, log, sessions: () => sessions },
			{
				env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(fake.port) },
				serviceAccountDir: saDir,
			},
		);
		if (!reporter) throw new Error("reporter not started");
		const steps = [
			step(1, "running"),
			step(1, "completed"),
			step(2, "running"),
			step(2, "failed", "provider_auth", "the provider refused the API key (401)"),
			step(3, "cancelled", "cancelled", "cancelled by request"),
			step(4, "timeout", "timeout", "run exceeded SESSION_TIMEOUT (4s)"),
			step(5, "failed", "interrupted", "the sidecar restarted while the run was in progress"),
		];
		sessions = [
			{ id: "s6", status: "running", active: true },
			{ id: "s1", status: "completed", active: false },
			{ id: "s2", status: "failed", active: false },
		];
		for (const s of steps) reporter.record(s);
		const lastEvent = await fake.waitFor((c) => isEvent(c) && c.body.reason === "SessionInterrupted");
		const patch = await fake.waitFor((c) => isPatch(c) && summaryOf(c).counts.running === 1);
		await reporter.stop();

		const events = fake.calls.filter(isEvent);
		expect(events.map((c) => c.body.reason)).toEqual([
			"SessionStarted",
			"SessionCompleted",
			"SessionStarted",
			"SessionFailed",
			"SessionCancelled",
			"SessionTimedOut",
			"SessionInterrupted",
		]);
		expect(events.map((c) => c.body.type)).toEqual([
			"Normal",
			"Normal",
			"Normal",
			"Warning",
			"Normal",
			"Warning",
			"Warning",
		]);
		expect(events[3]?.body.message).toBe(
			"Session 00000000-0000-4000-8000-000000000002 failed (provider_auth): the provider refused the API key (401)",
		);
		expect(lastEvent.body).toMatchObject({
			involvedObject: { apiVersion: "v1", kind: "Pod", name: POD, namespace: NS, uid: UID },
			metadata: { namespace: NS, labels: { "opencode-sidecar/session": "00000000-0000-4000-8000-000000000005" } },
			source: { component: "opencode-sidecar" },
			count: 1,
		});
		// What went over the wire is a valid core/v1 Event.
		for (const c of events) expect(() => new EventModel(c.body).validate()).not.toThrow();
		expect(new Set(events.map((c) => c.body.metadata.name)).size).toBe(events.length);
		// The namespace came from the service account (POD_NAMESPACE empty), the token from its file.
		for (const c of fake.calls) expect(c.authorization).toBe(`Bearer ${TOKEN}`);
		// Annotation updates coalesce: at most the initial one and the one after the burst.
		const patches = fake.calls.filter(isPatch);
		expect(patches.length).toBeLessThanOrEqual(2);
		expect(patch.contentType).toBe("application/merge-patch+json");
		expect(summaryOf(patch)).toMatchObject({
			counts: { completed: 1, failed: 1, running: 1 },
			active: ["s6"],
			active_more: 0,
		});
	});

	test("reads the pod's uid from the API when the downward API does not give it", async () => {
		const { log } = captureLog();
		const reporter = new KubernetesReporter({
			connect: () => connectKubernetes(target(fake.port, pki.caFile, undefined)),
			pod: { name: POD, namespace: NS },
			sessions: () => [],
			clock: systemClock,
			log,
		});
		reporter.record(step(1, "running"));
		const event = await fake.waitFor(isEvent);
		await reporter.stop();
		expect(fake.calls[0]).toMatchObject({ method: "GET", path: `/api/v1/namespaces/${NS}/pods/${POD}` });
		expect(event.body.involvedObject.uid).toBe(POD_UID_FROM_API);
	});

	test("keeps a bounded queue while the API server hangs, and stop() gives up after its grace period", async () => {
		fake.behaviour = "hang";
		const { log, lines } = captureLog();
		const clock = new ManualClock();
		const reporter = new KubernetesReporter({
			connect: () => connectKubernetes(target(fake.port), { timeoutMs: 60_000 }),
			pod: { name: POD, namespace: NS, uid: UID },
			sessions: () => [],
			clock,
			log,
			maxQueuedEvents: 3,
		});
		await fake.waitFor(isPatch); // the initial annotation, now hanging
		for (let i = 0; i < 10; i++) reporter.record(step(i, "running"));
		expect(reporter.stats.dropped).toBe(7); // 10 queued behind the hanging call, 3 kept
		const stopped = reporter.stop(2000);
		clock.advance(2000);
		await stopped;
		expect(fake.calls.filter(isEvent)).toHaveLength(0);
		expect(lines.some((l) => l.msg === "pod annotation not updated")).toBe(true);
		reporter.record(step(1, "completed")); // after stop: ignored, never throws
		expect(reporter.stats.events).toBe(0);
	});

	test("retries a failed annotation patch with back-off until it lands", async () => {
		fake.behaviour = "error";
		const { log, lines, waitFor } = captureLog();
		const clock = new ManualClock();
		const reporter = new KubernetesReporter({
			connect: () => connectKubernetes(target(fake.port)),
			pod: { name: POD, namespace: NS, uid: UID },
			sessions: () => [{ id: "s1", status: "running", active: true }],
			clock,
			log,
			retryMs: 1000,
		});
		await waitFor("pod annotation not updated");
		expect(lines.find((l) => l.msg === "pod annotation not updated")?.err).toContain("HTTP 500");
		clock.advance(999);
		expect(fake.calls.filter(isPatch)).toHaveLength(1);
		clock.advance(1);
		await waitFor("pod annotation not updated", 2);
		expect(fake.calls.filter(isPatch)).toHaveLength(2);
		fake.behaviour = "ok";
		clock.advance(2000); // doubled
		await waitFor("pod annotation updated");
		expect(fake.calls.filter(isPatch)).toHaveLength(3);
		const stopped = reporter.stop();
		clock.advance(2000);
		await stopped;
		expect(reporter.stats.patches).toBe(1);
		expect(reporter.stats.failures).toBe(2);
	});

	test("refuses an API server whose certificate is not signed by the service account's CA", async () => {
		const impostor = startFakeApiServer(rogue);
		try {
			const api = await connectKubernetes(target(impostor.port));
			const event = buildEvent(step(1, "running"), target(0).pod, Date.now(), 0);
			if (!event) throw new Error("no event");
			await expect(api.createEvent(event)).rejects.toThrow(/certificate|self.signed|verify/i);
			expect(impostor.calls).toHaveLength(0);
		} finally {
			await impostor.close();
		}
	});

	test("cuts an API call that does not answer at the request timeout on the injected clock", async () => {
		fake.behaviour = "hang";
		const clock = new ManualClock();
		const api = await connectKubernetes(target(fake.port), { timeoutMs: 60_000, clock });
		let settled = false;
		const patched = api.patchPodAnnotations({ a: "b" }).finally(() => {
			settled = true;
		});
		await fake.waitFor((c) => c.method === "PATCH");
		clock.advance(59_999);
		await Promise.resolve();
		expect(settled).toBe(false);
		clock.advance(1);
		await expect(patched).rejects.toThrow("timed out after 60000 ms");
		expect(clock.pendingTimers).toBe(0);
		api.close();
	});

	test("an API call answered in time leaves no timer on the clock", async () => {
		const clock = new ManualClock();
		const api = await connectKubernetes(target(fake.port), { timeoutMs: 60_000, clock });
		await api.patchPodAnnotations({ a: "b" });
		expect(clock.pendingTimers).toBe(0);
		api.close();
	});

	test("turns itself off, logged, when it cannot build a client", async () => {
		const { log, waitFor } = captureLog();
		const reporter = new KubernetesReporter({
			connect: () => connectKubernetes(target(fake.port, join(dir, "missing-ca.crt"))),
			pod: { name: POD, namespace: NS, uid: UID },
			sessions: () => [],
			clock: systemClock,
			log,
		});
		await waitFor("kubernetes reporter disabled: no API client");
		reporter.record(step(1, "running"));
		await reporter.stop();
		expect(fake.calls).toHaveLength(0);
	});
});
