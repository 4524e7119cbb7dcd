import type { IdSource } from "../ids";
import type { Plan } from "../plan";
import type { ApiFormat } from "../types";

/** One SSE frame on the wire. `paced` frames carry content and wait for the turn's delay. */
export interface Frame {
	text: string;
	paced?: boolean;
}

/** How one provider API spells streams, complete replies and errors. */
export interface WireFormat {
	name: ApiFormat;
	/** Prefix of tool call ids in this API (`call_`, `toolu_`). */
	callIdPrefix: string;
	/** The whole stream; without its finish frames when `plan.truncated`. */
	stream(plan: Plan, ids: IdSource): Frame[];
	/** The body of a non-streaming reply (`stream` absent or false in the request). */
	complete(plan: Plan, ids: IdSource): unknown;
	/** The provider's error body for an HTTP status. */
	error(status: number, message: string | undefined): unknown;
	/** Extra headers every reply of this API carries. */
	headers(ids: IdSource): Record<string, string>;
}

/** `data:` only (Chat Completions). JSON never contains a raw newline, so one line suffices. */
export function dataFrame(data: unknown, paced = false): Frame {
	return {
		text: `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`,
		paced,
	};
}

/** `event:` named after the payload's `type`, then `data:` (Responses API, Anthropic). */
export function typedFrame(data: { type: string }, paced = false): Frame {
	return {
		text: `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`,
		paced,
	};
}

export function nowSeconds(): number {
	return Math.floor(Date.now() / 1000);
}
