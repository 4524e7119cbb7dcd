/**
 * Session lifecycle as Kubernetes Events (core/v1) on the sidecar's pod, so
 * `kubectl describe pod` and `kubectl get events` show each run starting and
 * ending. Pure: builds the request body; the reporter sends it.
 */

/** The pod the events are about (downward API: metadata.name, metadata.namespace, metadata.uid). */
export interface PodRef {
	readonly name: string;
	readonly namespace: string;
	/** `kubectl describe pod` lists only events whose involvedObject.uid is the pod's. */
	readonly uid?: string | undefined;
}

/** A run started or ended (the session service's lifecycle event). */
export interface Lifecycle {
	readonly session_id: string;
	readonly status: string;
	readonly code?: string | undefined;
	readonly message?: string | undefined;
}

/** The wire form of a core/v1 Event, as much of it as the sidecar fills in. */
export interface KubeEvent {
	apiVersion: "v1";
	kind: "Event";
	metadata: { name: string; namespace: string; labels: Record<string, string> };
	involvedObject: {
		apiVersion: "v1";
		kind: "Pod";
		name: string;
		namespace: string;
		uid?: string;
		fieldPath?: string;
	};
	reason: string;
	message: string;
	type: "Normal" | "Warning";
	action: string;
	source: { component: string };
	reportingComponent: string;
	reportingInstance: string;
	firstTimestamp: string;
	lastTimestamp: string;
	count: 1;
}

export const COMPONENT = "opencode-sidecar";
/** Label on every event, for `kubectl get events -l opencode-sidecar/session=<id>`. */
export const SESSION_LABEL = "opencode-sidecar/session";

/** Event messages longer than this are cut (the events API keeps notes to 1 KiB). */
export const MAX_MESSAGE = 1024;

interface Kind {
	readonly reason: string;
	readonly type: "Normal" | "Warning";
	readonly action: string;
	readonly verb: string;
}

/** Reason, type and wording per lifecycle step; undefined for a status that is no step (e.g. pending). */
export function lifecycleKind(e: Lifecycle): Kind | undefined {
	switch (e.status) {
		case "running":
			return {
				reason: "SessionStarted",
				type: "Normal",
				action: "Start",
				verb: "started",
			};
		case "completed":
			return {
				reason: "SessionCompleted",
				type: "Normal",
				action: "Complete",
				verb: "completed",
			};
		case "cancelled":
			return {
				reason: "SessionCancelled",
				type: "Normal",
				action: "Cancel",
				verb: "was cancelled",
			};
		case "timeout":
			return {
				reason: "SessionTimedOut",
				type: "Warning",
				action: "Timeout",
				verb: "timed out",
			};
		case "failed":
			return e.code === "interrupted"
				? {
						reason: "SessionInterrupted",
						type: "Warning",
						action: "Interrupt",
						verb: "was interrupted",
					}
				: {
						reason: "SessionFailed",
						type: "Warning",
						action: "Fail",
						verb: "failed",
					};
		case "unverified":
			// Not a run's step: stored data of the session failed verification (security/tampering.ts).
			return {
				reason: "StoredDataUnverified",
				type: "Warning",
				action: "Refuse",
				verb: "has stored data that failed verification",
			};
		default:
			return undefined;
	}
}

/** RFC 3339 in whole seconds, as Kubernetes writes `metav1.Time`. */
export function kubeTime(ms: number): string {
	return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * The Event for one lifecycle step, or undefined when the step is not
 * reported. `seq` makes names unique within one millisecond; names follow
 * client-go's `<object>.<hex nanoseconds>` form.
 */
export function buildEvent(e: Lifecycle, pod: PodRef, nowMs: number, seq: number): KubeEvent | undefined {
	const kind = lifecycleKind(e);
	if (!kind) return undefined;
	const detail = e.code && e.status !== "completed" ? ` (${e.code})${e.message ? `: ${e.message}` : ""}` : "";
	const nanos = BigInt(nowMs) * 1_000_000n + BigInt(seq % 1_000_000);
	const time = kubeTime(nowMs);
	return {
		apiVersion: "v1",
		kind: "Event",
		metadata: {
			// An object name is at most 253 characters; the suffix is at most 17.
			name: `${pod.name.slice(0, 230)}.${nanos.toString(16)}`,
			namespace: pod.namespace,
			labels: { [SESSION_LABEL]: e.session_id },
		},
		involvedObject: {
			apiVersion: "v1",
			kind: "Pod",
			name: pod.name,
			namespace: pod.namespace,
			...(pod.uid ? { uid: pod.uid } : {}),
		},
		reason: kind.reason,
		message: truncate(`Session ${e.session_id} ${kind.verb}${detail}`),
		type: kind.type,
		action: kind.action,
		source: { component: COMPONENT },
		reportingComponent: COMPONENT,
		reportingInstance: pod.name,
		firstTimestamp: time,
		lastTimestamp: time,
		count: 1,
	};
}

function truncate(text: string): string {
	const bytes = new TextEncoder().encode(text);
	if (bytes.length <= MAX_MESSAGE) return text;
	// Cut on a character boundary, leaving room for the ellipsis (3 bytes).
	let out = new TextDecoder().decode(bytes.slice(0, MAX_MESSAGE - 3));
	if (out.endsWith("\uFFFD")) out = out.slice(0, -1);
	return `${out}…`;
}
