import { describe, expect, test } from "bun:test";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
	AlwaysOnSampler,
	InMemorySpanExporter,
	type ReadableSpan,
	SimpleSpanProcessor,
	TracerProvider,
} from "@opentelemetry/sdk-trace";
import * as incubating from "@opentelemetry/semantic-conventions/incubating";
import { UsageSniffer } from "../../src/gateway/usage";
import type { RunEffect, RunInput } from "../../src/sessions/run-effects";
import { GEN_AI } from "../../src/telemetry/attributes";
import { BoundedProcessor } from "../../src/telemetry/bounded-export";
import { RunSpans } from "../../src/telemetry/run-spans";
import { tracingSettings } from "../../src/telemetry/settings";

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };

describe("tracingSettings (the standard OTEL_* variables)", () => {
	test("off unless an OTLP endpoint is named, and off again with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none", () => {
		expect(tracingSettings({})).toBeUndefined();
		expect(tracingSettings({ OTEL_SERVICE_NAME: "x" })).toBeUndefined();
		expect(tracingSettings({ ...ENDPOINT, OTEL_SDK_DISABLED: "true" })).toBeUndefined();
		expect(tracingSettings({ ...ENDPOINT, OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
		expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toMatchObject({
			captureContent: false,
			maxQueueSize: 2048,
			sampler: { kind: "parentbased_always_on" },
		});
	});

	test("content capture, queue, batch and sampler from their variables", () => {
		expect(
			tracingSettings({
				...ENDPOINT,
				OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "TRUE",
				OTEL_BSP_MAX_QUEUE_SIZE: "16",
				OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "64",
				OTEL_BSP_SCHEDULE_DELAY: "100",
				OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
				OTEL_TRACES_SAMPLER_ARG: "0.25",
			}),
		).toEqual({
			captureContent: true,
			maxQueueSize: 16,
			batch: { scheduledDelayMillis: 100, maxExportBatchSize: 16 },
			sampler: { kind: "parentbased_traceidratio", ratio: 0.25 },
		});
	});

	test("what cannot be honoured is an error naming the variable", () => {
		for (const [name, value] of [
			["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"],
			["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"],
			["OTEL_TRACES_EXPORTER", "zipkin"],
			["OTEL_TRACES_SAMPLER", "sometimes"],
			["OTEL_BSP_MAX_QUEUE_SIZE", "0"],
		] as const) {
			expect(() => tracingSettings({ ...ENDPOINT, [name]: value })).toThrow(name);
		}
		expect(() =>
			tracingSettings({ ...ENDPOINT, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }),
		).toThrow("OTEL_TRACES_SAMPLER_ARG");
	});
});

test("the GenAI attribute names are the semantic-conventions package's own", () => {
	const names = incubating as unknown as Record<string, string>;
	const expected: Record<keyof typeof GEN_AI, string | undefined> = {
		operationName: names.ATTR_GEN_AI_OPERATION_NAME,
		providerName: names.ATTR_GEN_AI_PROVIDER_NAME,
		agentName: names.ATTR_GEN_AI_AGENT_NAME,
		conversationId: names.ATTR_GEN_AI_CONVERSATION_ID,
		requestModel: names.ATTR_GEN_AI_REQUEST_MODEL,
		requestTemperature: names.ATTR_GEN_AI_REQUEST_TEMPERATURE,
		requestMaxTokens: names.ATTR_GEN_AI_REQUEST_MAX_TOKENS,
		responseModel: names.ATTR_GEN_AI_RESPONSE_MODEL,
		responseFinishReasons: names.ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
		usageInputTokens: names.ATTR_GEN_AI_USAGE_INPUT_TOKENS,
		usageOutputTokens: names.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
		toolName: names.ATTR_GEN_AI_TOOL_NAME,
		toolCallId: names.ATTR_GEN_AI_TOOL_CALL_ID,
		toolType: names.ATTR_GEN_AI_TOOL_TYPE,
		toolCallArguments: names.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
		toolCallResult: names.ATTR_GEN_AI_TOOL_CALL_RESULT,
		inputMessages: names.ATTR_GEN_AI_INPUT_MESSAGES,
		errorType: names.ATTR_ERROR_TYPE,
		httpResponseStatusCode: names.ATTR_HTTP_RESPONSE_STATUS_CODE,
	};
	expect(GEN_AI).toEqual(expected as typeof GEN_AI);
});

/** RunSpans over the real SDK with an in-memory exporter and a clock the test moves. */
function world(captureContent = false) {
	const exporter = new InMemorySpanExporter();
	const provider = new TracerProvider({
		sampler: new AlwaysOnSampler(),
		spanProcessors: [new SimpleSpanProcessor({ exporter })],
	});
	let now = 1_000_000;
	const spans = new RunSpans({
		tracer: provider.getTracer("test"),
		propagator: new W3CTraceContextPropagator(),
		captureContent,
		now: () => now,
	});
	const step = (input: RunInput, effects: RunEffect[], run = 1) =>
		spans.transition({ sessionId: "s", run, input, effects });
	const finished = () => exporter.getFinishedSpans();
	const named = (name: string) => finished().filter((s) => s.name === name);
	const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
	return {
		spans,
		step,
		finished,
		named,
		parentOf,
		tick: (ms: number) => {
			now += ms;
		},
	};
}

const completed = {
	type: "end",
	end: { status: "completed", finalMessage: "", filesModified: [], usage: undefined },
} as unknown as RunEffect;
const question = (id: string) =>
	({
		type: "store",
		event: { event: "question", data: { question_id: id, questions: [], default: [], expires_at: "", timestamp: "" } },
	}) as RunEffect;
const toolCall = (call_id: string, args: Record<string, unknown>) =>
	({ event: "tool_call", id: 1, data: { tool: "bash", args, call_id, timestamp: "" } }) as never;
const toolResult = (call_id: string, output: string, is_error = false) =>
	({
		event: "tool_result",
		id: 2,
		data: { tool: "bash", result: is_error ? { error: output } : { output }, call_id, is_error, timestamp: "" },
	}) as never;

describe("RunSpans", () => {
	test("a run's span continues the caller's trace; tools, questions, the recycle, the scan and the queued follow-up are its children", () => {
		const w = world();
		w.spans.requested("s", { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
		w.step({ type: "start", prompt: "p" }, [{ type: "begin" }]);
		w.spans.stored("s", toolCall("call_1", { command: "echo hi" }));
		w.tick(40);
		w.spans.stored("s", toolResult("call_1", "hi"));
		w.step({ type: "questionAsked", id: "que_1", questions: [] }, [question("que_1")]);
		w.spans.requested("s", { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" });
		w.step({ type: "followUp", prompt: "q" }, []);
		w.tick(500);
		w.step({ type: "questionAnswered", id: "que_1", answers: [["a"]] }, [
			{ type: "cancelQuestionTimer", id: "que_1" },
			{ type: "replyQuestion", id: "que_1", answers: [["a"]], by: "client" },
		]);
		w.step({ type: "engineLost", reason: "engine exited" }, []);
		w.tick(200);
		w.step({ type: "engineReady" }, [{ type: "begin" }]); // the same run resumes
		w.step({ type: "engineIdle" }, [{ type: "finish", run: 1 }]);
		w.tick(10);
		w.step({ type: "engineEnded", run: 1, end: {} as never }, [completed, { type: "begin" }], 2);
		w.step({ type: "engineIdle" }, [completed], 2);

		const [run1, run2] = w.named("invoke_agent opencode");
		expect(run1?.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
		expect(w.parentOf(run1 as ReadableSpan)).toBe("00f067aa0ba902b7");
		expect(run1?.attributes).toMatchObject({
			"opencode_sidecar.run.number": 1,
			"opencode_sidecar.run.outcome": "completed",
		});
		expect(run2?.spanContext().traceId).toBe("0af7651916cd43dd8448eb211c80319c");
		const id1 = run1?.spanContext().spanId;
		const tool = w.named("execute_tool bash")[0];
		expect(w.parentOf(tool as ReadableSpan)).toBe(id1);
		expect(tool?.attributes).toMatchObject({ "gen_ai.tool.name": "bash", "gen_ai.tool.call.id": "call_1" });
		expect(tool?.duration).toEqual([0, 40_000_000]);
		expect(w.named("sidecar.question")[0]?.attributes).toMatchObject({
			"opencode_sidecar.question.answered_by": "client",
		});
		expect(w.named("sidecar.question")[0]?.duration).toEqual([0, 500_000_000]);
		expect(w.named("sidecar.engine_recycle")[0]?.duration).toEqual([0, 200_000_000]);
		expect(w.parentOf(w.named("sidecar.workspace_scan")[0] as ReadableSpan)).toBe(id1);
		const queued = w.named("sidecar.queued")[0];
		expect(w.parentOf(queued as ReadableSpan)).toBe(run2?.spanContext().spanId);
		expect(queued?.duration).toEqual([0, 710_000_000]);
		expect(w.spans.traceId("s")).toBe("0af7651916cd43dd8448eb211c80319c");
	});

	test("a failed run says its outcome and code; a failed tool its error; open children end with the run", () => {
		const w = world();
		w.step({ type: "start", prompt: "p" }, [{ type: "begin" }]);
		w.spans.stored("s", toolCall("call_1", {}));
		w.spans.stored("s", toolResult("call_1", "boom", true));
		w.spans.stored("s", toolCall("call_2", {}));
		w.step({ type: "timeout", run: 1 }, [
			{ type: "end", end: { status: "timeout", code: "timeout", error: "late" } } as never,
		]);
		const run = w.named("invoke_agent opencode")[0];
		expect(run?.parentSpanContext).toBeUndefined();
		expect(run?.attributes).toMatchObject({
			"opencode_sidecar.run.outcome": "timeout",
			"opencode_sidecar.run.failure_code": "timeout",
			"error.type": "timeout",
		});
		expect(run?.status.code).toBe(2);
		const [failed, open] = w.named("execute_tool bash");
		expect(failed?.attributes["error.type"]).toBe("tool_error");
		expect(open?.attributes["opencode_sidecar.run.outcome"]).toBe("run_ended");
	});

	test("content goes into spans only with capture on", () => {
		for (const capture of [false, true]) {
			const w = world(capture);
			w.step({ type: "start", prompt: "p" }, [{ type: "begin" }]);
			w.spans.stored("s", toolCall("c", { command: "echo private-arg" }));
			w.spans.stored("s", toolResult("c", "private-output"));
			w.spans.llmCall("s", { provider: "openai", model: "m", body: { input: "private-prompt" } })?.end({});
			w.step({ type: "cancel" }, [completed]);
			const text = JSON.stringify(w.finished().map((s) => s.attributes));
			for (const word of ["private-arg", "private-output", "private-prompt"]) {
				expect(text.includes(word)).toBe(capture);
			}
		}
	});

	test("a key wait before the run is in the requesting caller's trace", () => {
		const w = world();
		w.spans.requested("s", { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
		w.spans.keyWait("s", "restart")("the endpoint answered 500");
		const wait = w.named("sidecar.key_wait")[0];
		expect(wait?.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
		expect(wait?.attributes).toMatchObject({ "opencode_sidecar.reason": "restart", "error.type": "key_unavailable" });
	});
});

test("the bounded processor holds at most its limit until exports answer, and counts what it drops", () => {
	const passed: string[] = [];
	let dropped = 0;
	const inner = {
		onStart() {},
		onEnd: (s: ReadableSpan) => void passed.push(s.name),
		forceFlush: async () => {},
		shutdown: async () => {},
	};
	const bounded = new BoundedProcessor(inner, 2, (n) => {
		dropped += n;
	});
	const span = (name: string) => ({ name, spanContext: () => ({ traceFlags: 1 }) }) as unknown as ReadableSpan;
	for (const n of ["a", "b", "c"]) bounded.onEnd(span(n));
	expect(passed).toEqual(["a", "b"]);
	expect(dropped).toBe(1);
	bounded.settled(2);
	bounded.onEnd(span("d"));
	expect(passed).toEqual(["a", "b", "d"]);
	// Unsampled spans are never exported: neither held nor counted.
	bounded.onEnd({ name: "x", spanContext: () => ({ traceFlags: 0 }) } as unknown as ReadableSpan);
	expect(dropped).toBe(1);
});

test("UsageSniffer reads finish reasons and the answering model of each wire format", () => {
	const feed = (format: "chat" | "responses" | "anthropic", text: string) => {
		const s = new UsageSniffer(format);
		for (let i = 0; i < text.length; i += 5) s.push(text.slice(i, i + 5));
		return s.end;
	};
	expect(
		feed(
			"chat",
			'data: {"model":"m1","choices":[{"delta":{"content":"hi"},"finish_reason":null}]}\n\ndata: {"model":"m1","choices":[{"delta":{},"finish_reason":"tool_calls"}]}\n\n',
		),
	).toEqual({ finishReasons: ["tool_calls"], responseModel: "m1" });
	expect(
		feed(
			"responses",
			'data: {"type":"response.completed","response":{"model":"m2","status":"completed","usage":{"input_tokens":1,"output_tokens":2}}}\n\n',
		),
	).toEqual({ finishReasons: ["completed"], responseModel: "m2" });
	expect(
		feed(
			"anthropic",
			'data: {"type":"message_start","message":{"model":"m3","usage":{"input_tokens":3}}}\n\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}\n\n',
		),
	).toEqual({ finishReasons: ["end_turn"], responseModel: "m3" });
});

test("a follow-up dropped with a run that did not complete leaves no parent for the next run", () => {
	const w = world();
	w.step({ type: "start", prompt: "p" }, [{ type: "begin" }]);
	w.spans.requested("s", { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" });
	w.step({ type: "followUp", prompt: "q" }, []);
	w.step({ type: "cancel" }, [{ type: "end", end: { status: "cancelled", code: "cancelled", error: "" } } as never]);
	w.step({ type: "start", prompt: "r" }, [{ type: "begin" }], 2);
	w.step({ type: "engineIdle" }, [completed], 2);
	const run2 = w.named("invoke_agent opencode")[1];
	expect(run2?.parentSpanContext).toBeUndefined();
	expect(run2?.spanContext().traceId).not.toBe("0af7651916cd43dd8448eb211c80319c");
});

test("a malformed traceparent is ignored: the run starts a new trace", () => {
	const w = world();
	w.spans.requested("s", { traceparent: "00-not-a-trace-01", tracestate: "x" });
	w.step({ type: "start", prompt: "p" }, [{ type: "begin" }]);
	w.step({ type: "engineIdle" }, [completed]);
	const run = w.named("invoke_agent opencode")[0];
	expect(run?.parentSpanContext).toBeUndefined();
	expect(run?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
});
