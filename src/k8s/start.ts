import { existsSync, readFileSync } from "node:fs";
import type { Config } from "../config/parse";
import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import { connectKubernetes } from "./api";
import { detectCluster, SERVICE_ACCOUNT_DIR } from "./cluster";
import { KubernetesReporter } from "./reporter";
import type { SessionBrief } from "./summary";

/** What tests (or an unusual pod layout) may change about how the cluster is found. */
export interface KubernetesOverrides {
	/** Default: `process.env` (the kubelet's KUBERNETES_SERVICE_HOST and _PORT). */
	readonly env?: Readonly<Record<string, string | undefined>>;
	/** Default: /var/run/secrets/kubernetes.io/serviceaccount */
	readonly serviceAccountDir?: string;
	/** Longest one API call may take (default 5000 ms). */
	readonly requestTimeoutMs?: number;
	/** Delay before retrying a failed annotation patch (default 2000 ms). */
	readonly retryMs?: number;
}

export interface ReporterDeps {
	/** Its slice of the configuration: the mode and who the pod is. */
	readonly config: Pick<Config, "kubernetesReporter" | "podName" | "podNamespace" | "podUid">;
	readonly clock: Clock;
	readonly log: Logger;
	readonly sessions: () => readonly SessionBrief[];
}

/** Starts the Kubernetes reporter when the configuration and the pod allow it; undefined otherwise (logged). */
export function startKubernetesReporter(
	deps: ReporterDeps,
	overrides: KubernetesOverrides = {},
): KubernetesReporter | undefined {
	const { config, log } = deps;
	const detection = detectCluster({
		mode: config.kubernetesReporter,
		podName: config.podName,
		podNamespace: config.podNamespace,
		podUid: config.podUid,
		env: overrides.env ?? process.env,
		serviceAccountDir: overrides.serviceAccountDir ?? SERVICE_ACCOUNT_DIR,
		exists: existsSync,
		readText: (path) => readFileSync(path, "utf8"),
	});
	if (!detection.enabled) {
		if (detection.misconfigured)
			log.error({ reason: detection.reason }, "K8S_REPORTER is on but the reporter cannot run");
		else log.debug({ reason: detection.reason }, "kubernetes reporter not used");
		return undefined;
	}
	const { target } = detection;
	log.info({ server: target.server, pod: target.pod.name, namespace: target.pod.namespace }, "kubernetes reporter on");
	return new KubernetesReporter({
		connect: () =>
			connectKubernetes(target, {
				clock: deps.clock,
				...(overrides.requestTimeoutMs === undefined ? {} : { timeoutMs: overrides.requestTimeoutMs }),
			}),
		pod: target.pod,
		sessions: deps.sessions,
		clock: deps.clock,
		log,
		...(overrides.retryMs === undefined ? {} : { retryMs: overrides.retryMs }),
	});
}
