import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OPENSSL_BIN } from "../../support/system";

/**
 * A stand-in for the Kubernetes API server, as much of it as the reporter
 * talks to: HTTPS with a certificate from a test CA, the core/v1 paths for
 * Events and Pods, JSON and merge-patch bodies, `Status` errors. It records
 * every request it receives.
 */

export interface TestPki {
	readonly dir: string;
	readonly caFile: string;
	readonly certFile: string;
	readonly keyFile: string;
}

/**
 * A CA and a server certificate for 127.0.0.1 signed by it (openssl, P-256, valid one day). Suites that
 * call it declare `NEEDS.openssl` (test/support/system.ts).
 */
export function makeTestPki(dir: string, name = "test"): TestPki {
	mkdirSync(dir, { recursive: true });
	const p = (f: string) => join(dir, `${name}-${f}`);
	const run = (...args: string[]) => {
		const r = Bun.spawnSync([OPENSSL_BIN, ...args], { stderr: "pipe" });
		if (r.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.toString()}`);
	};
	const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
	run("req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "1", "-subj", `/CN=${name}-ca`);
	run("req", ...ec, "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=kube-apiserver");
	writeFileSync(
		p("ext.cnf"),
		"subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
	);
	run(
		"x509",
		"-req",
		"-in",
		p("server.csr"),
		"-CA",
		p("ca.crt"),
		"-CAkey",
		p("ca.key"),
		"-CAcreateserial",
		"-out",
		p("server.crt"),
		"-days",
		"1",
		"-extfile",
		p("ext.cnf"),
	);
	return { dir, caFile: p("ca.crt"), certFile: p("server.crt"), keyFile: p("server.key") };
}

export interface RecordedCall {
	readonly method: string;
	readonly path: string;
	readonly authorization: string | null;
	readonly contentType: string | null;
	// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON.
	readonly body: any;
}

/** `ok`: answers like the API server; `error`: 500 `Status` to everything; `hang`: never answers. */
export type Behaviour = "ok" | "error" | "hang";

export interface FakeApiServer {
	readonly port: number;
	readonly calls: RecordedCall[];
	behaviour: Behaviour;
	/** Requests received and not answered yet (hang). */
	readonly pending: number;
	/** Resolves with the first recorded call (past or future) matching `pred`; rejects after `timeoutMs`. */
	waitFor(pred: (c: RecordedCall) => boolean, timeoutMs?: number): Promise<RecordedCall>;
	close(): Promise<void>;
}

export const POD_UID_FROM_API = "0b7c9f4e-5a1d-4e8e-9d2a-3f6b1c2d4e5f";

export function startFakeApiServer(pki: TestPki, behaviour: Behaviour = "ok"): FakeApiServer {
	const calls: RecordedCall[] = [];
	const waiters: { pred: (c: RecordedCall) => boolean; resolve: (c: RecordedCall) => void }[] = [];
	const hanging = new Set<() => void>();
	const state = { behaviour };

	const server = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		idleTimeout: 0,
		tls: { cert: Bun.file(pki.certFile), key: Bun.file(pki.keyFile) },
		async fetch(request) {
			const url = new URL(request.url);
			const text = await request.text();
			let body: unknown = text;
			try {
				body = text ? JSON.parse(text) : undefined;
			} catch {
				// Recorded as text.
			}
			const call: RecordedCall = {
				method: request.method,
				path: url.pathname,
				authorization: request.headers.get("authorization"),
				contentType: request.headers.get("content-type"),
				body,
			};
			calls.push(call);
			for (const w of [...waiters])
				if (w.pred(call)) {
					waiters.splice(waiters.indexOf(w), 1);
					w.resolve(call);
				}
			if (state.behaviour === "hang")
				return new Promise<Response>((resolve) => {
					const release = () => resolve(new Response(null, { status: 503 }));
					hanging.add(release);
					request.signal.addEventListener("abort", () => hanging.delete(release));
				});
			if (state.behaviour === "error") return status(500, "InternalError", "etcdserver: request timed out");
			return answer(call);
		},
	});

	return {
		port: server.port ?? 0,
		calls,
		get behaviour() {
			return state.behaviour;
		},
		set behaviour(b: Behaviour) {
			state.behaviour = b;
		},
		get pending() {
			return hanging.size;
		},
		waitFor(pred, timeoutMs = 15_000) {
			const found = calls.find(pred);
			if (found) return Promise.resolve(found);
			return new Promise((resolve, reject) => {
				const waiter = { pred, resolve };
				waiters.push(waiter);
				setTimeout(() => {
					if (waiters.includes(waiter)) reject(new Error("no matching API call in time"));
				}, timeoutMs);
			});
		},
		async close() {
			for (const release of hanging) release();
			hanging.clear();
			await server.stop(true);
		},
	};
}

function answer(call: RecordedCall): Response {
	const events = call.path.match(/^\/api\/v1\/namespaces\/([^/]+)\/events$/);
	if (events && call.method === "POST")
		return Response.json(
			{ ...call.body, metadata: { ...call.body.metadata, uid: crypto.randomUUID() } },
			{ status: 201 },
		);
	const pod = call.path.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/);
	if (pod && (call.method === "GET" || call.method === "PATCH")) {
		if (call.method === "PATCH" && call.contentType !== "application/merge-patch+json")
			return status(
				415,
				"UnsupportedMediaType",
				`the body of the request was in an unknown format: ${call.contentType}`,
			);
		return Response.json({
			apiVersion: "v1",
			kind: "Pod",
			metadata: {
				name: pod[2],
				namespace: pod[1],
				uid: POD_UID_FROM_API,
				annotations: call.method === "PATCH" ? call.body?.metadata?.annotations : {},
			},
		});
	}
	return status(404, "NotFound", `the server could not find the requested resource (${call.method} ${call.path})`);
}

function status(code: number, reason: string, message: string): Response {
	return Response.json(
		{ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code },
		{ status: code },
	);
}

/** A service-account directory (token, ca.crt, namespace) as the kubelet projects it. */
export function makeServiceAccountDir(dir: string, caFile: string, token: string, namespace: string): string {
	mkdirSync(dir, { recursive: true });
	writeFileSync(join(dir, "token"), token);
	copyFileSync(caFile, join(dir, "ca.crt"));
	writeFileSync(join(dir, "namespace"), namespace);
	return dir;
}
