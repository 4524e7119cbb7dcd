import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { Event as EventModel } from "kubernetes-models/v1/Event";
import { ConfigError, parseConfig } from "../../src/config/parse";
import { type DetectionInput, detectCluster } from "../../src/k8s/cluster";
import { buildEvent, kubeTime, lifecycleKind, MAX_MESSAGE } from "../../src/k8s/event";
import { buildSummary, MAX_LISTED_SESSIONS, SUMMARY_ANNOTATION, summaryAnnotations } from "../../src/k8s/summary";

const POD = { name: "opencode-task", namespace: "tasks", uid: "1c6f0d2e-0000-4000-8000-0000000000aa" };
const ID = "550e8400-e29b-41d4-a716-446655440000";
const T = Date.UTC(2026, 10, 21, 10, 30, 15, 250);

describe("lifecycle Events", () => {
	test("each lifecycle step has its reason and type; pending is no step", () => {
		const kinds = [
			["running", undefined, "SessionStarted", "Normal"],
			["completed", undefined, "SessionCompleted", "Normal"],
			["cancelled", "cancelled", "SessionCancelled", "Normal"],
			["timeout", "timeout", "SessionTimedOut", "Warning"],
			["failed", "provider_auth", "SessionFailed", "Warning"],
			["failed", "interrupted", "SessionInterrupted", "Warning"],
		] as const;
		for (const [status, code, reason, type] of kinds)
			expect(lifecycleKind({ session_id: ID, status, code })).toMatchObject({ reason, type });
		expect(lifecycleKind({ session_id: ID, status: "pending" })).toBeUndefined();
		expect(buildEvent({ session_id: ID, status: "pending" }, POD, T, 0)).toBeUndefined();
	});

	test("an Event names the pod, the session and the failure, and validates as core/v1", () => {
		const e = buildEvent(
			{ session_id: ID, status: "failed", code: "provider_error", message: "upstream answered 502" },
			POD,
			T,
			7,
		);
		expect(e).toEqual({
			apiVersion: "v1",
			kind: "Event",
			metadata: {
				name: `opencode-task.${(BigInt(T) * 1_000_000n + 7n).toString(16)}`,
				namespace: "tasks",
				labels: { "opencode-sidecar/session": ID },
			},
			involvedObject: { apiVersion: "v1", kind: "Pod", name: "opencode-task", namespace: "tasks", uid: POD.uid },
			reason: "SessionFailed",
			message: `Session ${ID} failed (provider_error): upstream answered 502`,
			type: "Warning",
			action: "Fail",
			source: { component: "opencode-sidecar" },
			reportingComponent: "opencode-sidecar",
			reportingInstance: "opencode-task",
			firstTimestamp: "2026-11-21T10:30:15Z",
			lastTimestamp: "2026-11-21T10:30:15Z",
			count: 1,
		});
		expect(() => new EventModel(e).validate()).not.toThrow();
	});

	test("successive Events get distinct names, also within one millisecond", () => {
		const names = [0, 1, 2].map((seq) => buildEvent({ session_id: ID, status: "running" }, POD, T, seq)?.metadata.name);
		expect(new Set(names).size).toBe(3);
	});

	test("a completed run carries no error detail; the pod uid is left out when unknown", () => {
		const e = buildEvent({ session_id: ID, status: "completed" }, { name: "p", namespace: "n" }, T, 0);
		expect(e?.message).toBe(`Session ${ID} completed`);
		expect(e?.involvedObject).not.toHaveProperty("uid");
	});

	test("long messages are cut to 1 KiB on a character boundary", () => {
		const e = buildEvent(
			{ session_id: ID, status: "failed", code: "engine_error", message: "é".repeat(2000) },
			POD,
			T,
			0,
		);
		const bytes = new TextEncoder().encode(e?.message ?? "").length;
		expect(bytes).toBeLessThanOrEqual(MAX_MESSAGE);
		expect(bytes).toBeGreaterThan(MAX_MESSAGE - 8);
		expect(e?.message.endsWith("…")).toBe(true);
		expect(e?.message).not.toContain("\uFFFD");
	});

	test("times are RFC 3339 in whole seconds", () => {
		expect(kubeTime(T)).toBe("2026-11-21T10:30:15Z");
	});
});

describe("the sessions annotation", () => {
	test("counts sessions by status and lists the ones in progress", () => {
		const summary = buildSummary(
			[
				{ id: "a", status: "running", active: true },
				{ id: "b", status: "completed", active: false },
				{ id: "c", status: "pending", active: true },
				{ id: "d", status: "completed", active: false },
				{ id: "e", status: "failed", active: false },
			],
			"2026-11-21T10:30:15.000Z",
		);
		expect(summary).toEqual({
			counts: { completed: 2, failed: 1, pending: 1, running: 1 },
			active: ["a", "c"],
			active_more: 0,
			updated_at: "2026-11-21T10:30:15.000Z",
		});
		expect(Object.keys(summaryAnnotations(summary))).toEqual([SUMMARY_ANNOTATION]);
	});

	test("stays small however many sessions there are", () => {
		const many = Array.from({ length: 5000 }, (_, i) => ({
			id: crypto.randomUUID(),
			status: i % 2 ? "running" : "completed",
			active: i % 2 === 1,
		}));
		const summary = buildSummary(many, "2026-11-21T10:30:15.000Z");
		expect(summary.active).toHaveLength(MAX_LISTED_SESSIONS);
		expect(summary.active_more).toBe(2500 - MAX_LISTED_SESSIONS);
		expect(summary.active).toEqual(
			many
				.filter((s) => s.active)
				.slice(0, MAX_LISTED_SESSIONS)
				.map((s) => s.id),
		);
		expect((summaryAnnotations(summary)[SUMMARY_ANNOTATION] ?? "").length).toBeLessThan(1024);
	});
});

describe("cluster detection", () => {
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount";
	const files: Record<string, string> = {
		[`${sa}/token`]: "t",
		[`${sa}/ca.crt`]: "c",
		[`${sa}/namespace`]: "from-sa\n",
	};
	const input = (over: Partial<DetectionInput> = {}): DetectionInput => ({
		mode: "auto",
		podName: "opencode-task",
		podNamespace: "",
		podUid: "",
		env: { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" },
		serviceAccountDir: sa,
		exists: (p) => p in files,
		readText: (p) => files[p] ?? "",
		...over,
	});

	test("in a pod: the API server from the kubelet's variables, the namespace from the service account", () => {
		expect(detectCluster(input())).toEqual({
			enabled: true,
			target: {
				server: "https://10.96.0.1:443",
				caFile: `${sa}/ca.crt`,
				tokenFile: `${sa}/token`,
				pod: { name: "opencode-task", namespace: "from-sa" },
			},
		});
	});

	test("POD_NAMESPACE and POD_UID win; IPv6 hosts are bracketed", () => {
		const d = detectCluster(
			input({
				podNamespace: "tasks",
				podUid: "u-1",
				env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" },
			}),
		);
		expect(d.enabled && d.target.server).toBe("https://[fd00::1]:6443");
		expect(d.enabled && d.target.pod).toEqual({ name: "opencode-task", namespace: "tasks", uid: "u-1" });
	});

	test("outside a cluster auto stays off quietly; on says what is missing; off is off", () => {
		const outside = input({ exists: () => false });
		expect(detectCluster(outside)).toMatchObject({ enabled: false, misconfigured: false });
		expect(detectCluster({ ...outside, mode: "on" })).toMatchObject({
			enabled: false,
			misconfigured: true,
			reason: expect.stringContaining("token"),
		});
		expect(detectCluster(input({ mode: "off" }))).toMatchObject({ enabled: false, misconfigured: false });
		expect(detectCluster(input({ podName: "" }))).toMatchObject({
			enabled: false,
			reason: expect.stringContaining("POD_NAME"),
		});
		expect(detectCluster(input({ env: {} }))).toMatchObject({
			enabled: false,
			reason: expect.stringContaining("KUBERNETES_SERVICE_HOST"),
		});
	});
});

describe("configuration", () => {
	const install = resolve(import.meta.dir, "../..");
	test("K8S_REPORTER, POD_* and ENGINE_SEED_DIR", () => {
		const c = parseConfig(
			{ K8S_REPORTER: "ON", POD_NAME: "p", POD_NAMESPACE: "n", POD_UID: "u", ENGINE_SEED_DIR: "/opt/seed/" },
			install,
		);
		expect(c).toMatchObject({
			kubernetesReporter: "on",
			podName: "p",
			podNamespace: "n",
			podUid: "u",
			engineSeedDir: "/opt/seed",
		});
		expect(parseConfig({}, install)).toMatchObject({
			kubernetesReporter: "auto",
			podName: "",
			engineSeedDir: undefined,
		});
	});

	test("bad values stop the start naming the variable", () => {
		const bad: [Record<string, string>, string][] = [
			[{ K8S_REPORTER: "maybe" }, "K8S_REPORTER"],
			[{ K8S_REPORTER: "on" }, "POD_NAME"],
			[{ ENGINE_SEED_DIR: "relative/seed" }, "ENGINE_SEED_DIR"],
		];
		for (const [env, variable] of bad) {
			expect(() => parseConfig(env, install)).toThrow(ConfigError);
			expect(() => parseConfig(env, install)).toThrow(new RegExp(`^${variable}: `));
		}
	});
});
