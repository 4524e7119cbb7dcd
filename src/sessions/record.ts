import type { ErrorCode, SessionStatusName, Usage } from "../events/catalogue";
import { TERMINAL_STATUSES } from "../events/catalogue";
import type { ProviderName } from "../providers/catalogue";
import type { CallSettings } from "../providers/model-config";
import type { SessionStatus } from "./schemas";

/**
 * What the sidecar keeps about a session on disk (`session.json`). Never holds
 * the API key, the endpoint or the prompt. Its call settings (temperature,
 * max_tokens, ...) are kept so that a follow-up after a restart (which
 * re-supplies only the key) calls the same way; records written before a
 * setting existed lack it.
 */
export interface SessionRecord extends Readonly<Partial<CallSettings>> {
	readonly session_id: string;
	engine_session_id: string | null;
	status: SessionStatusName;
	readonly provider: ProviderName;
	readonly model: string;
	readonly model_version?: string;
	/** Tools of every run of this session. */
	readonly enabled_tools: string[];
	/** The engine agent of the runs (changed by a follow-up that names another); absent: the engine's default. */
	agent?: string;
	/** The agent may not change files (its permissions deny edits): writing tools stay off. */
	read_only?: boolean;
	/** Applied to every run of this session (not a secret; kept for follow-ups and resumes). */
	readonly system_prompt?: string;
	/** The session's `api_endpoint`, unless it carries credentials (userinfo or a query string). */
	readonly api_endpoint?: string;
	readonly created_at: string;
	started_at: string | null;
	updated_at: string;
	ended_at: string | null;
	cancelled_at: string | null;
	error?: { code: ErrorCode; message: string };
	files_modified: string[];
	/** Every file the runs created, changed or deleted under the workspace (workspace tracker), by path. */
	workspace_changes?: Record<string, "added" | "modified" | "deleted">;
	usage?: Usage;
	progress?: number;
	/**
	 * The id of the newest event when the record was saved at the end of a run,
	 * so listing an ended session needs no read of its log. Absent in records
	 * written before it existed (found from the log's tail once, then kept).
	 */
	last_event_id?: number;
	/** The trace of the newest run (tracing on): its W3C trace id. */
	trace_id?: string;
}

export const isEnded = (r: Pick<SessionRecord, "status">): boolean => TERMINAL_STATUSES.has(r.status);

/** The public status object of a session. */
export function toStatus(r: SessionRecord, lastEventId: number): SessionStatus {
	return {
		session_id: r.session_id,
		status: r.status,
		created_at: r.created_at,
		started_at: r.started_at,
		updated_at: r.updated_at,
		ended_at: r.ended_at,
		last_event_id: lastEventId,
		...(r.progress === undefined ? {} : { progress: r.progress }),
		...(r.error === undefined ? {} : { error: r.error }),
		files_modified: r.files_modified,
		...(r.usage === undefined ? {} : { usage: r.usage }),
		provider: r.provider,
		model: r.model,
		...(r.agent === undefined ? {} : { agent: r.agent }),
		...(r.trace_id === undefined ? {} : { trace_id: r.trace_id }),
	};
}
