import type { WireFormat } from "../providers/catalogue";
import type { CallSettings } from "../providers/model-config";

/** What a session asks of every LLM call made for it: its model and its call settings (providers/model-config.ts). */
export type CallParameters = { readonly model: string } & Readonly<CallSettings>;

export interface Rewritten {
	readonly body: Record<string, unknown>;
	/** Parameters that could not be applied as asked, said in words for the session's stream. */
	readonly notices: string[];
}

/** OpenAI reasoning models (o-series, gpt-5 family) refuse `temperature`. */
export const isOpenAiReasoningModel = (model: string): boolean => /^(o\d|gpt-5)/i.test(model.replace(/^.*\//, ""));

const ANTHROPIC_MIN_THINKING_BUDGET = 1024;

/**
 * Applies a session's model, temperature and max_tokens to the body the engine
 * sent, in the field names of each API. Pure.
 *
 * Rules where a provider cannot take what was asked:
 * - OpenAI reasoning models: `temperature` is dropped (they refuse it), with a notice.
 * - Anthropic extended thinking only allows temperature 1: when the engine
 *   turned thinking on and the session asks another temperature, thinking is
 *   turned off so the temperature applies, with a notice. When it stays on, its
 *   budget is kept below max_tokens (or thinking is turned off if max_tokens is
 *   too small for the minimum budget).
 */
export function rewriteBody(format: WireFormat, input: Record<string, unknown>, p: CallParameters): Rewritten {
	const body: Record<string, unknown> = { ...input, model: p.model };
	const notices: string[] = [];
	switch (format) {
		case "responses":
		case "chat": {
			if (isOpenAiReasoningModel(p.model)) {
				delete body.temperature;
				delete body.top_p;
				notices.push(`temperature ${p.temperature} ignored: model ${p.model} does not accept a temperature`);
			} else {
				body.temperature = p.temperature;
			}
			if (format === "responses") {
				body.max_output_tokens = p.max_tokens;
			} else if ("max_completion_tokens" in body) {
				body.max_completion_tokens = p.max_tokens;
				delete body.max_tokens;
			} else {
				body.max_tokens = p.max_tokens;
			}
			break;
		}
		case "anthropic": {
			body.max_tokens = p.max_tokens;
			const thinking = body.thinking;
			const thinkingOn =
				typeof thinking === "object" && thinking !== null && (thinking as { type?: unknown }).type === "enabled";
			if (thinkingOn && p.temperature !== 1) {
				delete body.thinking;
				notices.push(`extended thinking turned off so that temperature ${p.temperature} applies (thinking requires 1)`);
			} else if (thinkingOn) {
				const budget = Number((thinking as { budget_tokens?: unknown }).budget_tokens);
				if (p.max_tokens <= ANTHROPIC_MIN_THINKING_BUDGET) {
					delete body.thinking;
					notices.push(`extended thinking turned off: max_tokens ${p.max_tokens} leaves no room for it`);
				} else if (!(budget < p.max_tokens)) {
					body.thinking = {
						...(thinking as object),
						budget_tokens: p.max_tokens - 1,
					};
				}
			}
			const stillThinking =
				typeof body.thinking === "object" &&
				body.thinking !== null &&
				(body.thinking as { type?: unknown }).type === "enabled";
			if (stillThinking) delete body.temperature;
			else body.temperature = p.temperature;
			break;
		}
	}
	return { body, notices };
}
