/**
 * Attribute names of the spans, after the OpenTelemetry GenAI semantic conventions as published
 * in @opentelemetry/semantic-conventions 1.45.0 (its `incubating` entry point; the conventions
 * are "Development" status there). Copied here rather than imported, as that package advises for
 * incubating names (its incubating module is large and its names may change between minor
 * versions); test/unit/telemetry-attributes.test.ts checks each against the package.
 */
export const SEMCONV_VERSION = "1.45.0";

export const GEN_AI = {
	operationName: "gen_ai.operation.name",
	providerName: "gen_ai.provider.name",
	agentName: "gen_ai.agent.name",
	conversationId: "gen_ai.conversation.id",
	requestModel: "gen_ai.request.model",
	requestTemperature: "gen_ai.request.temperature",
	requestMaxTokens: "gen_ai.request.max_tokens",
	responseModel: "gen_ai.response.model",
	responseFinishReasons: "gen_ai.response.finish_reasons",
	usageInputTokens: "gen_ai.usage.input_tokens",
	usageOutputTokens: "gen_ai.usage.output_tokens",
	toolName: "gen_ai.tool.name",
	toolCallId: "gen_ai.tool.call.id",
	toolType: "gen_ai.tool.type",
	toolCallArguments: "gen_ai.tool.call.arguments",
	toolCallResult: "gen_ai.tool.call.result",
	inputMessages: "gen_ai.input.messages",
	/** Stable (not GenAI-specific). */
	errorType: "error.type",
	httpResponseStatusCode: "http.response.status_code",
} as const;

/** The sidecar's own attributes (no convention covers them). */
export const SIDECAR = {
	sessionId: "opencode_sidecar.session.id",
	runNumber: "opencode_sidecar.run.number",
	outcome: "opencode_sidecar.run.outcome",
	failureCode: "opencode_sidecar.run.failure_code",
	reason: "opencode_sidecar.reason",
	questionId: "opencode_sidecar.question.id",
	answeredBy: "opencode_sidecar.question.answered_by",
	timeToFirstByteMs: "opencode_sidecar.llm.time_to_first_byte_ms",
} as const;
