import type { Turn } from "./types";

/**
 * A turn in which the model calls the engine's `question` tool with one
 * question: `options` as [label, description] pairs, in the order shown.
 */
export function questionCall(question: string, header: string, options: readonly [string, string][]): Turn {
	return {
		kind: "tool",
		calls: [
			{
				name: "question",
				args: {
					questions: [{ question, header, options: options.map(([label, description]) => ({ label, description })) }],
				},
			},
		],
	};
}
