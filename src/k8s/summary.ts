/**
 * The pod annotation that tells `kubectl describe pod` what the sidecar is
 * doing: how many sessions it holds in each status and which ones are in
 * progress. Pure; the reporter patches it onto the pod.
 */

/** Annotation key (a DNS-label prefix, as Kubernetes requires for prefixed keys). */
export const SUMMARY_ANNOTATION = "opencode-sidecar/sessions";

/** Ids of sessions in progress listed at most; the rest are only counted. */
export const MAX_LISTED_SESSIONS = 20;

/** What the summary needs to know of one session. */
export interface SessionBrief {
	readonly id: string;
	readonly status: string;
	/** The run is still going (not ended). */
	readonly active: boolean;
}

export interface SessionsSummary {
	/** Sessions per status, statuses in alphabetical order. */
	readonly counts: Record<string, number>;
	/** Ids of the sessions in progress, in the order given (newest first), at most `MAX_LISTED_SESSIONS`. */
	readonly active: string[];
	/** Sessions in progress left out of `active`. */
	readonly active_more: number;
	readonly updated_at: string;
}

export function buildSummary(
	sessions: readonly SessionBrief[],
	nowIso: string,
	maxListed = MAX_LISTED_SESSIONS,
): SessionsSummary {
	const counts = new Map<string, number>();
	const active: string[] = [];
	let activeMore = 0;
	for (const s of sessions) {
		counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
		if (!s.active) continue;
		if (active.length < maxListed) active.push(s.id);
		else activeMore++;
	}
	return {
		counts: Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b))),
		active,
		active_more: activeMore,
		updated_at: nowIso,
	};
}

/** The merge-patch annotations for a summary: one key, compact JSON (well under 1 KiB per 20 ids). */
export function summaryAnnotations(summary: SessionsSummary): Record<string, string> {
	return { [SUMMARY_ANNOTATION]: JSON.stringify(summary) };
}
