import { isIPv6 } from "node:net";
import { join } from "node:path";
import type { Config } from "../config/parse";
import type { PodRef } from "./event";

/** Where the kubelet mounts the pod's service-account token, CA bundle and namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export type ReporterMode = Config["kubernetesReporter"];

/** How to reach the API server from inside the pod, and which pod this is. */
export interface ClusterTarget {
	/** `https://<KUBERNETES_SERVICE_HOST>:<KUBERNETES_SERVICE_PORT>` */
	readonly server: string;
	readonly caFile: string;
	/** Re-read by the client every minute (projected tokens rotate). */
	readonly tokenFile: string;
	readonly pod: PodRef;
}

export type Detection =
	| { readonly enabled: true; readonly target: ClusterTarget }
	| {
			readonly enabled: false;
			readonly reason: string;
			/** True when the reporter was asked for (`on`) but cannot run. */
			readonly misconfigured: boolean;
	  };

export interface DetectionInput {
	readonly mode: ReporterMode;
	readonly podName: string;
	readonly podNamespace: string;
	readonly podUid: string;
	/** The process environment (the kubelet sets KUBERNETES_SERVICE_HOST and _PORT). */
	readonly env: Readonly<Record<string, string | undefined>>;
	readonly serviceAccountDir: string;
	readonly exists: (path: string) => boolean;
	readonly readText: (path: string) => string;
}

/**
 * Decides whether the Kubernetes reporter runs and against what. `auto` runs
 * it when a service-account token is mounted and the API server and pod name
 * are known; `on` asks for it (a missing piece is then an error to log);
 * `off` never runs it.
 */
export function detectCluster(input: DetectionInput): Detection {
	const off = (reason: string): Detection => ({
		enabled: false,
		reason,
		misconfigured: input.mode === "on",
	});
	if (input.mode === "off") return { enabled: false, reason: "K8S_REPORTER=off", misconfigured: false };
	const tokenFile = join(input.serviceAccountDir, "token");
	const caFile = join(input.serviceAccountDir, "ca.crt");
	if (!input.exists(tokenFile)) return off(`no service-account token at ${tokenFile}`);
	if (!input.exists(caFile)) return off(`no CA bundle at ${caFile}`);
	const host = input.env.KUBERNETES_SERVICE_HOST?.trim();
	const port = input.env.KUBERNETES_SERVICE_PORT?.trim() || "443";
	if (!host) return off("KUBERNETES_SERVICE_HOST is not set");
	if (!/^\d{1,5}$/.test(port)) return off("KUBERNETES_SERVICE_PORT is not a port number");
	if (!input.podName) return off("POD_NAME is not set (downward API)");
	let namespace = input.podNamespace;
	const namespaceFile = join(input.serviceAccountDir, "namespace");
	if (!namespace && input.exists(namespaceFile)) namespace = input.readText(namespaceFile).trim();
	if (!namespace) return off("POD_NAMESPACE is not set and the service account names none");
	return {
		enabled: true,
		target: {
			server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
			caFile,
			tokenFile,
			pod: {
				name: input.podName,
				namespace,
				...(input.podUid ? { uid: input.podUid } : {}),
			},
		},
	};
}
