import { asOffered } from "./offered";
import type { Turn } from "./types";

export interface Usage {
	inputTokens: number;
	outputTokens: number;
}

export type PlanPart =
	| { type: "text"; text: string; deltas: string[] }
	| {
			type: "tool";
			callId: string;
			name: string;
			arguments: string;
			argumentDeltas: string[];
	  };

/** A text, tool or truncate turn resolved into what every wire format streams. */
export interface Plan {
	model: string;
	parts: PlanPart[];
	finish: "stop" | "tool_calls";
	/** Stop after the content, without finish frames, and reset the connection. */
	truncated: boolean;
	usage: Usage;
	/** Pause before every delta but the first. */
	delayMs: number;
}

/** About four characters per token, like the usual rule of thumb; never zero. */
export function estimateTokens(text: string): number {
	return Math.max(1, Math.ceil(text.length / 4));
}

/** Splits into `chunks` nearly equal pieces, or into words (each keeping its trailing spaces). */
export function splitText(text: string, chunks?: number): string[] {
	if (text === "") return [];
	const chars = Array.from(text);
	if (chunks === undefined) return text.match(/\s*\S+\s*/g) ?? [text];
	const n = Math.max(1, Math.min(Math.floor(chunks), chars.length));
	const pieces: string[] = [];
	for (let i = 0; i < n; i++) {
		pieces.push(chars.slice(Math.floor((i * chars.length) / n), Math.floor(((i + 1) * chars.length) / n)).join(""));
	}
	return pieces;
}

/** Tool arguments arrive in small pieces, as real providers send them. */
const ARGUMENT_PIECE = 24;

function splitArguments(json: string): string[] {
	const pieces: string[] = [];
	for (let i = 0; i < json.length; i += ARGUMENT_PIECE) pieces.push(json.slice(i, i + ARGUMENT_PIECE));
	return pieces;
}

export function planTurn(
	turn: Extract<Turn, { kind: "text" | "tool" | "truncate" }>,
	context: { model: string; requestBody: unknown; newCallId: () => string },
): Plan {
	const parts: PlanPart[] = [];
	const text = turn.text ?? "";
	if (text !== "")
		parts.push({
			type: "text",
			text,
			deltas: splitText(text, turn.kind === "text" ? turn.chunks : undefined),
		});
	if (turn.kind === "tool") {
		for (const scripted of turn.calls) {
			const call = asOffered(scripted, context.requestBody);
			const args = JSON.stringify(call.args);
			parts.push({
				type: "tool",
				callId: context.newCallId(),
				name: call.name,
				arguments: args,
				argumentDeltas: splitArguments(args),
			});
		}
	}
	const output = parts.map((p) => (p.type === "text" ? p.text : p.name + p.arguments)).join("");
	return {
		model: context.model,
		parts,
		finish: turn.kind === "tool" ? "tool_calls" : "stop",
		truncated: turn.kind === "truncate",
		usage: {
			inputTokens: estimateTokens(JSON.stringify(context.requestBody ?? "")),
			outputTokens: estimateTokens(output),
		},
		delayMs: turn.kind === "truncate" ? 0 : (turn.delayMs ?? 0),
	};
}
