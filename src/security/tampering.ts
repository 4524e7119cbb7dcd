import type { RecordProblem } from "./stored-mac";

/**
 * Stored data that failed verification (stored-mac.ts): what it was, whose, and why. Reported once
 * where it is found, as a log line, a metric and a Kubernetes Event (sidecar.ts wires the three);
 * the data itself is never used.
 */
export type Tampering =
	| {
			readonly what: "record";
			readonly session_id: string;
			readonly problem: RecordProblem;
			/** Whether the key could have verified it (OPENCODE_SHARED_SECRET set): if not, it is merely unverifiable. */
			readonly checkable: boolean;
	  }
	| { readonly what: "log"; readonly session_id: string; readonly event_id: number }
	/** The engine's configuration home changed while it ran (engine-home.ts): `path` is the first change found. */
	| { readonly what: "engine_home"; readonly path: string };

/** The one sentence a log line and an Event carry. */
export function describeTampering(t: Tampering): string {
	if (t.what === "engine_home")
		return `the engine's configuration home changed while it ran (${t.path}): no LLM call is forwarded until the engine is recycled on a rebuilt one`;
	if (t.what === "log")
		return `event ${t.event_id} of the session's log failed verification (changed on disk, or not written by this sidecar): not replayed`;
	if (!t.checkable)
		return "the session's record was written by an earlier process without OPENCODE_SHARED_SECRET and cannot be verified: its endpoint is not used and it is not run again";
	return t.problem === "no_mac"
		? "the session's record carries no MAC (written by an older version, or changed on disk): its endpoint is not used and it is not run again"
		: "the session's record failed verification (changed on disk): its endpoint is not used and it is not run again";
}
