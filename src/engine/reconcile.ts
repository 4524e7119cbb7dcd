import type { EngineSessionState } from "./engine";
import { type EngineEvent, isObject, type Json, num, str } from "./events";
import type { PartProgress } from "./translate";

/**
 * Reconciliation, the pure part: turns what the engine holds about one
 * session (its status, the messages and parts of the current run, its todos)
 * into the engine events that would have produced it, in the engine's order.
 * Passed through the session's own translator (translate.ts), which keeps per
 * part what it already emitted (text length, tool call and result announced),
 * they yield exactly what the log is missing: nothing twice, nothing skipped.
 * The engine's `/event` has no ids and no replay, so this is how events sent
 * while the feed was down (a cut, a stall, a recycle) are recovered.
 */
export interface ReconcileInput {
	readonly engineSessionId: string;
	readonly state: EngineSessionState;
	/** When our run began (ms): the run's messages are its prompt (created since) and what follows. */
	readonly runStartedAt: number;
	/** What the translator already emitted for a part. */
	readonly progress: (partId: string) => PartProgress | undefined;
}

interface Message {
	readonly info: Json;
	readonly parts: readonly Json[];
}

/** The synthesized events; `snapshot: true` marks part updates that came from a reconciliation. */
export function reconcileEvents(input: ReconcileInput): EngineEvent[] {
	const sessionID = input.engineSessionId;
	const messages = input.state.messages.flatMap(toMessage);
	const start = messages.findIndex(
		(m) => str(m.info.role) === "user" && (num(createdAt(m.info)) ?? 0) >= input.runStartedAt,
	);
	// The engine has not recorded our prompt yet: nothing of this run to recover.
	if (start === -1) return [];
	const turn = messages.slice(start);
	const out: EngineEvent[] = [];
	for (const m of turn) {
		out.push({ type: "message.updated", properties: { sessionID, info: m.info, snapshot: true } });
		for (const part of m.parts) out.push(...partEvents(sessionID, part, input.progress));
	}
	const todos = input.state.todos.filter(isObject);
	if (todos.length > 0) out.push({ type: "todo.updated", properties: { sessionID, todos, snapshot: true } });
	out.push(...endEvents(sessionID, input.state.status, turn));
	return out;
}

function toMessage(value: unknown): Message[] {
	if (!isObject(value) || !isObject(value.info)) return [];
	const parts = Array.isArray(value.parts) ? value.parts.filter(isObject) : [];
	return [{ info: value.info, parts }];
}

const createdAt = (info: Json): unknown => (isObject(info.time) ? info.time.created : undefined);

function partEvents(sessionID: string, part: Json, progress: ReconcileInput["progress"]): EngineEvent[] {
	const updated = (p: Json): EngineEvent => ({
		type: "message.part.updated",
		properties: { sessionID, part: p, snapshot: true },
	});
	if (str(part.type) !== "tool") return [updated(part)];
	const state = isObject(part.state) ? part.state : {};
	const status = str(state.status);
	if (status !== "completed" && status !== "error") return [updated(part)];
	const seen = progress(str(part.id) ?? "");
	if (seen?.resultAnnounced) return [updated(part)];
	// Live, a finished tool was first seen running (its call, its live output, a todo list it wrote):
	// the same steps, from its final state.
	const metadata = isObject(state.metadata) ? state.metadata : {};
	const running: Json = {
		...part,
		state: {
			status: "running",
			input: state.input,
			...(typeof metadata.output === "string" ? { metadata: { output: metadata.output } } : {}),
		},
	};
	const out = [updated(running)];
	const input = isObject(state.input) ? state.input : {};
	if (str(part.tool) === "todowrite" && Array.isArray(input.todos)) {
		out.push({ type: "todo.updated", properties: { sessionID, todos: input.todos, snapshot: true } });
	}
	out.push(updated(part));
	return out;
}

/**
 * How the run stands: taken by the engine (busy: its answer has begun, or it
 * is working), and finished while the feed was down when the engine is idle
 * and the run's last message is a completed answer or an error. An idle
 * engine whose answer is not stored yet ends the run with the idle that
 * follows on the feed.
 */
function endEvents(sessionID: string, status: string, turn: readonly Message[]): EngineEvent[] {
	const busy: EngineEvent = {
		type: "session.status",
		properties: { sessionID, status: { type: "busy" }, snapshot: true },
	};
	const last = turn.at(-1);
	const answered = turn.some((m) => str(m.info.role) === "assistant");
	if (status !== "idle") return [busy];
	if (!answered || !last || str(last.info.role) !== "assistant") return answered ? [busy] : [];
	const time = isObject(last.info.time) ? last.info.time : {};
	if (isObject(last.info.error)) {
		return [busy, { type: "session.error", properties: { sessionID, error: last.info.error, snapshot: true } }];
	}
	if (time.completed === undefined || str(last.info.finish) === "tool-calls") return [busy];
	return [busy, { type: "session.status", properties: { sessionID, status: { type: "idle" }, snapshot: true } }];
}
