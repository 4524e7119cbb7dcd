import { type EngineEvent, isObject, str } from "../engine/events";
import { parseQuestions } from "./questions";
import type { RunInput } from "./run-effects";

/**
 * What the agent asks of a person (engine `permission.asked`, `question.asked`) as inputs of
 * its session's run machine, which answers them (run-requests.ts); undefined for any other
 * event, or a request without an id. Pure.
 */
export function agentRequest(e: EngineEvent): RunInput | undefined {
	const p = e.properties;
	const id = str(p.id);
	if (e.type === "permission.asked") {
		if (!id) return undefined;
		const metadata = isObject(p.metadata) ? p.metadata : {};
		return {
			type: "permissionAsked",
			ask: {
				id,
				permission: str(p.permission) ?? "unknown",
				patterns: (Array.isArray(p.patterns) ? p.patterns : []).filter((x): x is string => typeof x === "string"),
				paths: [str(metadata.filepath), str(metadata.parentDir)].filter((x): x is string => x !== undefined),
			},
		};
	}
	if (e.type === "question.asked") return id ? { type: "questionAsked", id, questions: parseQuestions(p) } : undefined;
	return undefined;
}

/** Is this engine event a request of the agent (handled by `agentRequest`, even when it is malformed)? */
export const isAgentRequest = (e: EngineEvent): boolean => e.type === "permission.asked" || e.type === "question.asked";
