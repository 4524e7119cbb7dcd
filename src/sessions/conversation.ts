import { isObject, type Json, str } from "../engine/events";
import { isoTime } from "../lib/clock";

/** One message of the conversation, as `GET /sessions/{id}/messages` returns it. */
export interface ConversationMessage {
	id: string;
	role: string;
	created_at: string | null;
	text: string;
	tool_calls: {
		call_id: string;
		tool: string;
		args: Record<string, unknown>;
		status: string;
		output?: string;
		error?: string;
	}[];
}

/** Maps the engine's messages (`[{info, parts}]`) to the conversation view. Pure. */
export function toConversation(messages: readonly unknown[]): ConversationMessage[] {
	const out: ConversationMessage[] = [];
	for (const m of messages) {
		if (!isObject(m) || !isObject(m.info)) continue;
		const info = m.info;
		const time = isObject(info.time) ? info.time : {};
		const message: ConversationMessage = {
			id: str(info.id) ?? "",
			role: str(info.role) ?? "unknown",
			created_at: typeof time.created === "number" ? isoTime(time.created) : null,
			text: "",
			tool_calls: [],
		};
		for (const part of Array.isArray(m.parts) ? m.parts : []) {
			if (!isObject(part) || part.synthetic === true) continue;
			if (part.type === "text") message.text += str(part.text) ?? "";
			else if (part.type === "tool") message.tool_calls.push(toolCall(part));
		}
		out.push(message);
	}
	return out;
}

function toolCall(part: Json): ConversationMessage["tool_calls"][number] {
	const state = isObject(part.state) ? part.state : {};
	const output = str(state.output);
	const error = str(state.error);
	return {
		call_id: str(part.callID) ?? str(part.id) ?? "",
		tool: str(part.tool) ?? "unknown",
		args: isObject(state.input) ? state.input : {},
		status: str(state.status) ?? "unknown",
		...(output === undefined ? {} : { output }),
		...(error === undefined ? {} : { error }),
	};
}
