import { createParser, type EventSourceParser } from "eventsource-parser";
import type { WireFormat } from "../providers/catalogue";

export interface TokenCounts {
	input: number;
	output: number;
}

/** Why the model stopped and which model answered, as the stream says (for the call's span). */
export interface StreamEnd {
	readonly finishReasons: readonly string[];
	readonly responseModel?: string;
}

const FINISH = /"(finish_reason|stop_reason)"\s*:\s*"/;

/**
 * Reads token usage (and the finish reasons, the answering model) out of a provider's streamed response as it passes
 * through the gateway. Pure: feed it the response text as it comes; ask for the totals.
 * - chat completions: the final chunk's `usage.prompt_tokens` / `completion_tokens`
 * - responses: `response.completed` → `response.usage.input_tokens` / `output_tokens`
 * - anthropic: `message_start.message.usage.input_tokens`, `message_delta.usage.output_tokens`
 * Finish reasons: chat `choices[].finish_reason`; responses the final response's
 * `incomplete_details.reason` or `status`; anthropic `message_delta.delta.stop_reason`.
 */
export class UsageSniffer {
	private counts: TokenCounts = { input: 0, output: 0 };
	private readonly reasons: string[] = [];
	private model: string | undefined;
	private readonly parser: EventSourceParser;

	constructor(private readonly format: WireFormat) {
		this.parser = createParser({ onEvent: (e) => this.data(e.data) });
	}

	/** Feeds raw response text (any chunking). */
	push(text: string): void {
		this.parser.feed(text);
	}

	get totals(): TokenCounts {
		return { ...this.counts };
	}

	/** The finish reasons seen so far and the model that answered (when the stream named it). */
	get end(): StreamEnd {
		return { finishReasons: [...this.reasons], ...(this.model === undefined ? {} : { responseModel: this.model }) };
	}

	private data(payload: string): void {
		// Most chunks are text deltas: only those that can carry usage or a finish reason are parsed.
		if (!payload.includes("token") && !FINISH.test(payload)) return;
		let value: unknown;
		try {
			value = JSON.parse(payload);
		} catch {
			return;
		}
		const v = value as Record<string, any>;
		switch (this.format) {
			case "chat":
				if (typeof v.model === "string") this.model = v.model;
				if (Array.isArray(v.choices))
					for (const c of v.choices) if (typeof c?.finish_reason === "string") this.reasons.push(c.finish_reason);
				if (v.usage)
					this.counts = {
						input: num(v.usage.prompt_tokens),
						output: num(v.usage.completion_tokens),
					};
				break;
			case "responses":
				if (typeof v.response?.model === "string") this.model = v.response.model;
				if (/^response\.(completed|incomplete|failed)$/.test(String(v.type)) && v.response) {
					const reason = v.response.incomplete_details?.reason ?? v.response.status;
					if (typeof reason === "string") this.reasons.push(reason);
				}
				if (v.type === "response.completed" && v.response?.usage) {
					this.counts = {
						input: num(v.response.usage.input_tokens),
						output: num(v.response.usage.output_tokens),
					};
				}
				break;
			case "anthropic":
				if (v.type === "message_start" && typeof v.message?.model === "string") this.model = v.message.model;
				if (v.type === "message_start" && v.message?.usage) this.counts.input = num(v.message.usage.input_tokens);
				if (v.type === "message_delta" && typeof v.delta?.stop_reason === "string")
					this.reasons.push(v.delta.stop_reason);
				if (v.type === "message_delta" && v.usage) this.counts.output = num(v.usage.output_tokens);
				break;
		}
	}
}

const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) && x >= 0 ? x : 0);
