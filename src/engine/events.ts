/**
 * The parts of the engine's `/event` stream that the sidecar reads, typed
 * loosely on purpose: the engine adds fields between versions, and anything
 * we do not recognise is skipped rather than trusted.
 * Shapes measured on opencode 1.18.33 (see test/fixtures/engine-events/).
 */
export interface EngineEvent {
	readonly type: string;
	readonly properties: Record<string, unknown>;
}

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Parses one `/event` data payload; undefined when it is not an engine event. */
export function parseEngineEvent(data: string): EngineEvent | undefined {
	try {
		const value: unknown = JSON.parse(data);
		if (!isObject(value) || typeof value.type !== "string") return undefined;
		return {
			type: value.type,
			properties: isObject(value.properties) ? value.properties : {},
		};
	} catch {
		return undefined;
	}
}

/** The engine session an event belongs to, wherever this event type keeps it. */
export function engineSessionOf(e: EngineEvent): string | undefined {
	const p = e.properties;
	return (
		str(p.sessionID) ??
		(isObject(p.part) ? str(p.part.sessionID) : undefined) ??
		(isObject(p.info)
			? (str(p.info.sessionID) ?? (e.type.startsWith("session.") ? str(p.info.id) : undefined))
			: undefined)
	);
}

/** For `session.created`/`session.updated`: the parent of a sub-agent session. */
export function parentSessionOf(e: EngineEvent): { id: string; parentID: string } | undefined {
	if (e.type !== "session.created" && e.type !== "session.updated") return undefined;
	const info = e.properties.info;
	if (!isObject(info)) return undefined;
	const id = str(info.id);
	const parentID = str(info.parentID);
	return id && parentID ? { id, parentID } : undefined;
}
