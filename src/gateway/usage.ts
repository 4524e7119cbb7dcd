import { createParser, type EventSourceParser } from "eventsource-parser";
import type { WireFormat } from "../providers/catalogue";

export interface TokenCounts {
	input: number;
	output: number;
}

/**
 * Reads token usage out of a provider's streamed response as it passes
 * through the gateway. Pure: feed it the response text as it comes; ask for the totals.
 * - chat completions: the final chunk's `usage.prompt_tokens` / `completion_tokens`
 * - responses: `response.completed` → `response.usage.input_tokens` / `output_tokens`
 * - anthropic: `message_start.message.usage.input_tokens`, `message_delta.usage.output_tokens`
 */
export class UsageSniffer {
	private counts: TokenCounts = { input: 0, output: 0 };
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

	private data(payload: string): void {
		if (!payload.includes("token")) return;
		let value: unknown;
		try {
			value = JSON.parse(payload);
		} catch {
			return;
		}
		const v = value as Record<string, any>;
		switch (this.format) {
			case "chat":
				if (v.usage)
					this.counts = {
						input: num(v.usage.prompt_tokens),
						output: num(v.usage.completion_tokens),
					};
				break;
			case "responses":
				if (v.type === "response.completed" && v.response?.usage) {
					this.counts = {
						input: num(v.response.usage.input_tokens),
						output: num(v.response.usage.output_tokens),
					};
				}
				break;
			case "anthropic":
				if (v.type === "message_start" && v.message?.usage) this.counts.input = num(v.message.usage.input_tokens);
				if (v.type === "message_delta" && v.usage) this.counts.output = num(v.usage.output_tokens);
				break;
		}
	}
}

const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) && x >= 0 ? x : 0);
