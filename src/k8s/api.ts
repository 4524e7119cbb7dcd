import { readFileSync } from "node:fs";
import { type Clock, systemClock } from "../lib/clock";
import { deadline } from "../lib/timeout";
import type { ClusterTarget } from "./cluster";
import type { KubeEvent } from "./event";

/** The three Kubernetes API calls the reporter makes. Every call is bounded by a timeout. */
export interface KubernetesApi {
	createEvent(event: KubeEvent): Promise<void>;
	/** JSON merge patch of `metadata.annotations` on the pod. */
	patchPodAnnotations(annotations: Record<string, string>): Promise<void>;
	/** The pod's uid (for events when the downward API does not pass it). */
	readPodUid(): Promise<string | undefined>;
	/** Aborts calls in flight; later calls fail at once. */
	close(): void;
}

export interface ConnectOptions {
	/** Longest one API call may take (default 5000 ms). */
	readonly timeoutMs?: number;
	/** Times `timeoutMs` (default the system clock). */
	readonly clock?: Clock;
}

/**
 * An API client for the pod's own service account, built on
 * `@kubernetes/client-node` (loaded on first use: it is large and unused
 * outside a cluster). Its KubeConfig supplies the bearer token (the
 * `tokenFile` provider re-reads the projected token every minute) and the
 * typed CoreV1Api with its serializer. Requests go through Bun's own fetch
 * with the service-account CA: the library's default transport hands an
 * undici dispatcher carrying the CA to `fetch`, which Bun ignores, so
 * every TLS handshake with the API server would fail.
 */
export async function connectKubernetes(target: ClusterTarget, options: ConnectOptions = {}): Promise<KubernetesApi> {
	const k8s = await import("@kubernetes/client-node");
	const ca = readFileSync(target.caFile, "utf8");
	const timeoutMs = options.timeoutMs ?? 5000;
	const clock = options.clock ?? systemClock;
	const closed = new AbortController();

	const kc = new k8s.KubeConfig();
	kc.loadFromClusterAndUser(
		{
			name: "in-cluster",
			server: target.server,
			caFile: target.caFile,
			skipTLSVerify: false,
		},
		{
			name: "service-account",
			authProvider: {
				name: "tokenFile",
				config: { tokenFile: target.tokenFile },
			},
		},
	);
	const httpApi = k8s.wrapHttpLibrary({
		async send(request) {
			const limit = deadline(clock, timeoutMs);
			const signal = AbortSignal.any([
				closed.signal,
				limit.signal,
				...(request.getSignal() ? [request.getSignal() as AbortSignal] : []),
			]);
			let res: Response;
			let text: string;
			try {
				res = await fetch(request.getUrl(), {
					method: request.getHttpMethod(),
					headers: request.getHeaders(),
					body: request.getBody() as string | undefined,
					signal,
					tls: { ca, rejectUnauthorized: true },
				});
				text = await res.text();
			} finally {
				limit.cancel();
			}
			const headers: Record<string, string> = {};
			res.headers.forEach((value, name) => {
				headers[name] = value;
			});
			return new k8s.ResponseContext(res.status, headers, {
				text: async () => text,
				binary: async () => Buffer.from(text),
			});
		},
	});
	const core = new k8s.CoreV1Api(
		k8s.createConfiguration({
			baseServer: new k8s.ServerConfiguration(target.server, {}),
			authMethods: { default: kc },
			httpApi,
		}),
	);
	const { name, namespace } = target.pod;
	return {
		async createEvent(event) {
			await core.createNamespacedEvent({
				namespace,
				body: {
					...event,
					// The client's serializer wants Date objects for these.
					firstTimestamp: new Date(event.firstTimestamp),
					lastTimestamp: new Date(event.lastTimestamp),
				},
			});
		},
		async patchPodAnnotations(annotations) {
			await core.patchNamespacedPod(
				{ name, namespace, body: { metadata: { annotations } } },
				k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
			);
		},
		async readPodUid() {
			const pod = await core.readNamespacedPod({ name, namespace });
			return pod.metadata?.uid;
		},
		close() {
			closed.abort();
		},
	};
}
