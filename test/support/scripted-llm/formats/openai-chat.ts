import type { IdSource } from "../ids";
import type { Plan } from "../plan";
import { dataFrame, type Frame, nowSeconds, type WireFormat } from "./format";
import { openAiError } from "./openai-errors";

/** Chat Completions: `chat.completion.chunk` objects as `data:` lines, then `data: [DONE]`. */
export const openAiChat: WireFormat = {
	name: "chat",
	callIdPrefix: "call_",

	stream(plan, ids) {
		const base = {
			id: ids.next("chatcmpl-"),
			object: "chat.completion.chunk",
			created: nowSeconds(),
			model: plan.model,
			system_fingerprint: "fp_scripted",
		};
		const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
			...base,
			choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
		});
		const frames: Frame[] = [dataFrame(chunk({ role: "assistant", content: "", refusal: null }))];
		let toolIndex = 0;
		for (const part of plan.parts) {
			if (part.type === "text") {
				for (const delta of part.deltas) frames.push(dataFrame(chunk({ content: delta }), true));
				continue;
			}
			const index = toolIndex++;
			frames.push(
				dataFrame(
					chunk({
						tool_calls: [
							{
								index,
								id: part.callId,
								type: "function",
								function: { name: part.name, arguments: "" },
							},
						],
					}),
					true,
				),
			);
			for (const delta of part.argumentDeltas)
				frames.push(dataFrame(chunk({ tool_calls: [{ index, function: { arguments: delta } }] })));
		}
		if (plan.truncated) return frames;
		frames.push(dataFrame(chunk({}, plan.finish)));
		frames.push(dataFrame({ ...base, choices: [], usage: usage(plan) }));
		frames.push(dataFrame("[DONE]"));
		return frames;
	},

	complete(plan, ids) {
		const text = plan.parts.flatMap((p) => (p.type === "text" ? [p.text] : [])).join("");
		const toolCalls = plan.parts.flatMap((p) =>
			p.type === "tool"
				? [
						{
							id: p.callId,
							type: "function",
							function: { name: p.name, arguments: p.arguments },
						},
					]
				: [],
		);
		return {
			id: ids.next("chatcmpl-"),
			object: "chat.completion",
			created: nowSeconds(),
			model: plan.model,
			choices: [
				{
					index: 0,
					message: {
						role: "assistant",
						content: text === "" ? null : text,
						refusal: null,
						...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
					},
					logprobs: null,
					finish_reason: plan.finish,
				},
			],
			usage: usage(plan),
			system_fingerprint: "fp_scripted",
		};
	},

	error: openAiError,

	headers(ids: IdSource) {
		return { "x-request-id": ids.next("req_") };
	},
};

function usage(plan: Plan) {
	return {
		prompt_tokens: plan.usage.inputTokens,
		completion_tokens: plan.usage.outputTokens,
		total_tokens: plan.usage.inputTokens + plan.usage.outputTokens,
		prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
		completion_tokens_details: {
			reasoning_tokens: 0,
			audio_tokens: 0,
			accepted_prediction_tokens: 0,
			rejected_prediction_tokens: 0,
		},
	};
}
