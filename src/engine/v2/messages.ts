import { isObject, type Json, num, str } from "../events";
import { engineError } from "./errors";
import { patchId, stepFinishId, textPartId, toolOutput } from "./feed-map";
import { contractToolInput, contractToolName } from "./tool-names";

/**
 * A 2.x session's message list (`GET /api/session/{id}/message`: typed items, each assistant
 * message with its `content`) as 1.x's `{info, parts}` per message, oldest first: the shape the
 * shared reconciliation reads (engine/reconcile.ts) and the one `GET /sessions/{id}/messages`
 * has always returned. Mapped here, per generation, rather than making reconcile read a
 * neutral shape, so that the 1.x path stays byte for byte what it was and both generations'
 * reconciliation is the same code; the part ids are those the feed mapper (feed-map.ts) gives
 * the same parts live, so the translator recognises what it already emitted. Pure.
 */
export function messagesAsV1(sessionID: string, list: readonly unknown[]): Json[] {
	const items = list.filter(isObject);
	items.sort((a, b) => created(a) - created(b));
	return items.flatMap((m) => {
		const id = str(m.id);
		if (!id) return [];
		switch (str(m.type)) {
			case "user":
				return [
					{
						info: { id, sessionID, role: "user", time: { created: created(m) } },
						parts: [{ id: `${id}:t0`, sessionID, messageID: id, type: "text", text: str(m.text) ?? "" }],
					},
				];
			case "assistant":
				return [assistant(sessionID, id, m)];
			default:
				return [];
		}
	});
}

const created = (m: Json): number => (isObject(m.time) ? (num(m.time.created) ?? 0) : 0);

function assistant(sessionID: string, id: string, m: Json): Json {
	const time = isObject(m.time) ? m.time : {};
	const counters = { text: 0, reasoning: 0 };
	const parts: Json[] = [];
	const base = { sessionID, messageID: id };
	for (const c of (Array.isArray(m.content) ? m.content : []).filter(isObject)) {
		const type = str(c.type);
		if (type === "text" || type === "reasoning") {
			parts.push({ ...base, id: textPartId(id, type, counters[type]++), type, text: str(c.text) ?? "" });
		} else if (type === "tool") {
			const callID = str(c.id) ?? "";
			const engineName = str(c.name) ?? "unknown";
			parts.push({
				...base,
				id: callID,
				callID,
				type: "tool",
				tool: contractToolName(engineName),
				state: toolState(engineName, c.state),
			});
		}
	}
	const finished = time.completed !== undefined || isObject(m.error);
	if (finished) parts.push({ ...base, id: stepFinishId(id), type: "step-finish", tokens: m.tokens, cost: m.cost });
	const snapshot = isObject(m.snapshot) ? m.snapshot : {};
	const files = Array.isArray(snapshot.files) ? snapshot.files.filter((f) => typeof f === "string") : [];
	if (files.length > 0) parts.push({ ...base, id: patchId(id), type: "patch", files });
	return {
		info: {
			id,
			sessionID,
			role: "assistant",
			time: { created: num(time.created) ?? 0, ...(time.completed === undefined ? {} : { completed: time.completed }) },
			...(str(m.finish) ? { finish: str(m.finish) } : {}),
			...(isObject(m.error) ? { error: engineError(m.error) } : {}),
		},
		parts,
	};
}

function toolState(engineName: string, state: unknown): Json {
	const s = isObject(state) ? state : {};
	const input = contractToolInput(engineName, isObject(s.input) ? s.input : {});
	const metadata = isObject(s.metadata) ? s.metadata : {};
	switch (str(s.status)) {
		case "completed": {
			const output = toolOutput(s.content) ?? "";
			// As the feed mapper shows a shell command's output (feed-map.ts): whole, when it ends.
			const shown = engineName === "shell" ? { ...metadata, output } : metadata;
			return { status: "completed", input, output, title: str(s.title) ?? "", metadata: shown };
		}
		case "error":
			return {
				status: "error",
				input,
				error: isObject(s.error) ? (str(s.error.message) ?? "tool failed") : "tool failed",
			};
		case "running":
			return { status: "running", input, metadata };
		default:
			return { status: "pending", input };
	}
}
