import type { IdSource } from "../ids";
import type { Plan } from "../plan";
import { type Frame, typedFrame, type WireFormat } from "./format";

/**
 * Anthropic Messages: `message_start`, a `content_block_start/delta/stop` triple per text or
 * `tool_use` block, `message_delta` (stop reason, output tokens), `message_stop`.
 */
export const anthropic: WireFormat = {
	name: "anthropic",
	callIdPrefix: "toolu_",

	stream(plan, ids) {
		const frames: Frame[] = [];
		const emit = (event: { type: string } & Record<string, unknown>, paced = false) => {
			frames.push(typedFrame(event, paced));
		};
		emit({
			type: "message_start",
			message: {
				...envelope(plan, ids),
				content: [],
				stop_reason: null,
				stop_sequence: null,
				usage: { ...usage(plan), output_tokens: 1 },
			},
		});
		emit({ type: "ping" });
		plan.parts.forEach((part, index) => {
			if (part.type === "text") {
				emit({
					type: "content_block_start",
					index,
					content_block: { type: "text", text: "" },
				});
				for (const text of part.deltas)
					emit(
						{
							type: "content_block_delta",
							index,
							delta: { type: "text_delta", text },
						},
						true,
					);
				if (plan.truncated) return;
			} else {
				emit(
					{
						type: "content_block_start",
						index,
						content_block: {
							type: "tool_use",
							id: part.callId,
							name: part.name,
							input: {},
						},
					},
					true,
				);
				emit({
					type: "content_block_delta",
					index,
					delta: { type: "input_json_delta", partial_json: "" },
				});
				for (const partial_json of part.argumentDeltas)
					emit({
						type: "content_block_delta",
						index,
						delta: { type: "input_json_delta", partial_json },
					});
			}
			emit({ type: "content_block_stop", index });
		});
		if (plan.truncated) return frames;
		emit({
			type: "message_delta",
			delta: { stop_reason: stopReason(plan), stop_sequence: null },
			usage: { output_tokens: plan.usage.outputTokens },
		});
		emit({ type: "message_stop" });
		return frames;
	},

	complete(plan, ids) {
		const content = plan.parts.map((part) =>
			part.type === "text"
				? { type: "text", text: part.text }
				: {
						type: "tool_use",
						id: part.callId,
						name: part.name,
						input: JSON.parse(part.arguments) as unknown,
					},
		);
		return {
			...envelope(plan, ids),
			content,
			stop_reason: stopReason(plan),
			stop_sequence: null,
			usage: usage(plan),
		};
	},

	error(status, message) {
		const [type, fallback] = ANTHROPIC_ERRORS[status] ?? ["api_error", "Internal server error"];
		return { type: "error", error: { type, message: message ?? fallback } };
	},

	headers(ids: IdSource) {
		return { "request-id": ids.next("req_") };
	},
};

const ANTHROPIC_ERRORS: Record<number, [type: string, message: string]> = {
	400: ["invalid_request_error", "Invalid request"],
	401: ["authentication_error", "invalid x-api-key"],
	403: ["permission_error", "Your API key does not have permission to use the specified resource."],
	404: ["not_found_error", "The requested resource could not be found."],
	413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
	429: ["rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"],
	500: ["api_error", "Internal server error"],
	529: ["overloaded_error", "Overloaded"],
};

function envelope(plan: Plan, ids: IdSource) {
	return {
		id: ids.next("msg_"),
		type: "message",
		role: "assistant",
		model: plan.model,
	};
}

function stopReason(plan: Plan): string {
	return plan.finish === "tool_calls" ? "tool_use" : "end_turn";
}

function usage(plan: Plan) {
	return {
		input_tokens: plan.usage.inputTokens,
		cache_creation_input_tokens: 0,
		cache_read_input_tokens: 0,
		output_tokens: plan.usage.outputTokens,
		service_tier: "standard",
	};
}
