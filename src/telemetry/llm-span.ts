import { type Context, type Span, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { GEN_AI, SIDECAR } from "./attributes";
import type { LlmCallSpan, LlmRequest, LlmResult } from "./port";

/**
 * The span of one LLM call through the credential gateway (`chat <model>`, CLIENT), after the
 * GenAI conventions' inference span. The request body goes in only with content capture on (as
 * the provider's own JSON, not the conventions' normalised message form).
 */
export function llmCallSpan(
	tracer: Tracer,
	parent: Context,
	call: LlmRequest,
	o: { readonly now: () => number; readonly captureContent: boolean },
): LlmCallSpan {
	const started = o.now();
	const span: Span = tracer.startSpan(
		`chat ${call.model}`,
		{
			kind: SpanKind.CLIENT,
			startTime: started,
			attributes: {
				[GEN_AI.operationName]: "chat",
				[GEN_AI.providerName]: call.provider,
				[GEN_AI.requestModel]: call.model,
				...(call.temperature === undefined ? {} : { [GEN_AI.requestTemperature]: call.temperature }),
				...(call.maxTokens === undefined ? {} : { [GEN_AI.requestMaxTokens]: call.maxTokens }),
				...(o.captureContent && call.body !== undefined ? { [GEN_AI.inputMessages]: JSON.stringify(call.body) } : {}),
			},
		},
		parent,
	);
	let ended = false;
	return {
		responded(status) {
			span.setAttribute(GEN_AI.httpResponseStatusCode, status);
		},
		firstByte() {
			const at = o.now();
			span.setAttribute(SIDECAR.timeToFirstByteMs, at - started);
			span.addEvent("first_byte", at);
		},
		end(result: LlmResult) {
			if (ended) return;
			ended = true;
			if (result.inputTokens !== undefined) span.setAttribute(GEN_AI.usageInputTokens, result.inputTokens);
			if (result.outputTokens !== undefined) span.setAttribute(GEN_AI.usageOutputTokens, result.outputTokens);
			if (result.finishReasons && result.finishReasons.length > 0) {
				span.setAttribute(GEN_AI.responseFinishReasons, [...result.finishReasons]);
			}
			if (result.responseModel !== undefined) span.setAttribute(GEN_AI.responseModel, result.responseModel);
			if (result.errorType !== undefined) {
				span.setAttribute(GEN_AI.errorType, result.errorType);
				span.setStatus({ code: SpanStatusCode.ERROR });
			}
			span.end(o.now());
		},
	};
}
