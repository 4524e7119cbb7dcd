import type { IdSource } from "../ids";
import type { Plan, PlanPart } from "../plan";
import { type Frame, nowSeconds, typedFrame, type WireFormat } from "./format";
import { openAiError } from "./openai-errors";

/**
 * Responses API: `event:` + `data:` frames, each with a growing `sequence_number`, from
 * `response.created` to `response.completed` (whose `usage` the engine records).
 */
export const openAiResponses: WireFormat = {
	name: "responses",
	callIdPrefix: "call_",

	stream(plan, ids) {
		const frames: Frame[] = [];
		let sequence = 0;
		const emit = (event: { type: string } & Record<string, unknown>, paced = false) => {
			frames.push(typedFrame({ ...event, sequence_number: sequence++ } as typeof event, paced));
		};
		const response = envelope(plan, ids);
		emit({
			type: "response.created",
			response: { ...response, status: "in_progress", output: [], usage: null },
		});
		emit({
			type: "response.in_progress",
			response: { ...response, status: "in_progress", output: [], usage: null },
		});

		const items: unknown[] = [];
		plan.parts.forEach((part, outputIndex) => {
			const itemId = ids.next(part.type === "text" ? "msg_" : "fc_");
			if (part.type === "text") {
				emit({
					type: "response.output_item.added",
					output_index: outputIndex,
					item: {
						id: itemId,
						type: "message",
						status: "in_progress",
						role: "assistant",
						content: [],
					},
				});
				const at = {
					item_id: itemId,
					output_index: outputIndex,
					content_index: 0,
				};
				emit({
					type: "response.content_part.added",
					...at,
					part: {
						type: "output_text",
						text: "",
						annotations: [],
						logprobs: [],
					},
				});
				for (const delta of part.deltas) emit({ type: "response.output_text.delta", ...at, delta, logprobs: [] }, true);
				if (plan.truncated) return;
				emit({
					type: "response.output_text.done",
					...at,
					text: part.text,
					logprobs: [],
				});
				emit({
					type: "response.content_part.done",
					...at,
					part: outputText(part.text),
				});
			} else {
				emit(
					{
						type: "response.output_item.added",
						output_index: outputIndex,
						item: {
							...functionCall(part, itemId),
							status: "in_progress",
							arguments: "",
						},
					},
					true,
				);
				for (const delta of part.argumentDeltas)
					emit({
						type: "response.function_call_arguments.delta",
						item_id: itemId,
						output_index: outputIndex,
						delta,
					});
				emit({
					type: "response.function_call_arguments.done",
					item_id: itemId,
					output_index: outputIndex,
					arguments: part.arguments,
				});
			}
			const item = outputItem(part, itemId);
			items.push(item);
			emit({
				type: "response.output_item.done",
				output_index: outputIndex,
				item,
			});
		});
		if (plan.truncated) return frames;
		emit({
			type: "response.completed",
			response: {
				...response,
				status: "completed",
				output: items,
				usage: usage(plan),
			},
		});
		return frames;
	},

	complete(plan, ids) {
		const output = plan.parts.map((part) => outputItem(part, ids.next(part.type === "text" ? "msg_" : "fc_")));
		return {
			...envelope(plan, ids),
			status: "completed",
			output,
			usage: usage(plan),
		};
	},

	error: openAiError,

	headers(ids: IdSource) {
		return { "x-request-id": ids.next("req_") };
	},
};

function envelope(plan: Plan, ids: IdSource) {
	return {
		id: ids.next("resp_"),
		object: "response",
		created_at: nowSeconds(),
		model: plan.model,
		error: null,
		incomplete_details: null,
		parallel_tool_calls: true,
		service_tier: "default",
	};
}

function outputText(text: string) {
	return { type: "output_text", text, annotations: [], logprobs: [] };
}

function functionCall(part: Extract<PlanPart, { type: "tool" }>, itemId: string) {
	return {
		id: itemId,
		type: "function_call",
		status: "completed",
		arguments: part.arguments,
		call_id: part.callId,
		name: part.name,
	};
}

function outputItem(part: PlanPart, itemId: string) {
	if (part.type === "tool") return functionCall(part, itemId);
	return {
		id: itemId,
		type: "message",
		status: "completed",
		role: "assistant",
		content: [outputText(part.text)],
	};
}

function usage(plan: Plan) {
	return {
		input_tokens: plan.usage.inputTokens,
		input_tokens_details: { cached_tokens: 0 },
		output_tokens: plan.usage.outputTokens,
		output_tokens_details: { reasoning_tokens: 0 },
		total_tokens: plan.usage.inputTokens + plan.usage.outputTokens,
	};
}
