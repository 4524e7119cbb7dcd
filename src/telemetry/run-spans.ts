import {
	type Attributes,
	type Context,
	ROOT_CONTEXT,
	type Span,
	SpanKind,
	SpanStatusCode,
	type TextMapPropagator,
	type Tracer,
	trace,
} from "@opentelemetry/api";
import type { StoredEvent } from "../events/catalogue";
import type { RunEffect } from "../sessions/run-effects";
import { GEN_AI, SIDECAR } from "./attributes";
import { llmCallSpan } from "./llm-span";
import type { LlmCallSpan, LlmRequest, RunStep, TraceHeaders } from "./port";

export interface RunSpansOptions {
	readonly tracer: Tracer;
	readonly propagator: TextMapPropagator;
	/** OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: tool arguments and results, prompts go into spans. */
	readonly captureContent: boolean;
	/** Epoch milliseconds (spans are timed by it, so tests can drive it). */
	readonly now: () => number;
}

/** A request's context waiting for the run it asked for (a follow-up may wait behind the current run). */
interface Requested {
	readonly parent: Context;
	readonly at: number;
}

interface LiveRun {
	readonly number: number;
	readonly span: Span;
	readonly context: Context;
	readonly tools: Map<string, Span>;
	readonly questions: Map<string, Span>;
	scan?: Span;
	recycle?: Span;
}

interface SessionTrace {
	readonly requested: Requested[];
	run?: LiveRun;
	traceId?: string;
}

/**
 * The spans of every session's runs, from what the sessions layer reports (run machine steps,
 * stored events, key waits, gateway calls): pure bookkeeping over an OpenTelemetry `Tracer`, with
 * parents passed explicitly (no context manager: Bun has no async-hooks-based one we rely on).
 *
 * Span tree of a run (GenAI semantic conventions, see attributes.ts):
 *   invoke_agent opencode                 the run, child of the caller's traceparent
 *   ├─ sidecar.queued                     a follow-up waited for the run before it
 *   ├─ chat <model>                       each LLM call through the gateway (CLIENT)
 *   ├─ execute_tool <tool>                each tool call
 *   ├─ sidecar.question                   a question waiting for its answer
 *   ├─ sidecar.key_wait                   a key asked of CREDENTIALS_URL
 *   ├─ sidecar.engine_recycle             the engine went away under the run until it resumed
 *   └─ sidecar.workspace_scan             what the run changed, read before it completes
 */
export class RunSpans {
	private readonly sessions = new Map<string, SessionTrace>();

	constructor(private readonly o: RunSpansOptions) {}

	private of(sessionId: string): SessionTrace {
		let s = this.sessions.get(sessionId);
		if (!s) {
			s = { requested: [] };
			this.sessions.set(sessionId, s);
		}
		return s;
	}

	requested(sessionId: string, headers: TraceHeaders): void {
		const carrier: Record<string, string> = {};
		if (headers.traceparent) carrier.traceparent = headers.traceparent;
		if (headers.tracestate) carrier.tracestate = headers.tracestate;
		const parent = this.o.propagator.extract(ROOT_CONTEXT, carrier, {
			get: (c, k) => c[k],
			keys: (c) => Object.keys(c),
		});
		this.of(sessionId).requested.push({ parent, at: this.o.now() });
	}

	transition(step: RunStep): void {
		const { input, effects, sessionId } = step;
		if (input.type === "prune") {
			this.sessions.delete(sessionId);
			return;
		}
		const s = this.sessions.get(sessionId);
		if (!s && !effects.some((e) => e.type === "begin")) return;
		const session = s ?? this.of(sessionId);
		const run = session.run;
		if (run) {
			if (input.type === "engineEnded") this.endSpan(run.scan, {});
			if (input.type === "engineEnded") run.scan = undefined;
			if (input.type === "engineLost" && !run.recycle) {
				run.recycle = this.child(run, "sidecar.engine_recycle", { [SIDECAR.reason]: input.reason });
			}
		}
		const replied = new Set(effects.flatMap((e) => (e.type === "replyQuestion" ? [e.id] : [])));
		for (const e of effects) this.effect(session, step, e, replied);
	}

	private effect(session: SessionTrace, step: RunStep, e: RunEffect, replied: Set<string>): void {
		const run = session.run;
		switch (e.type) {
			case "begin":
				this.begin(session, step);
				return;
			case "finish":
				if (run && !run.scan) run.scan = this.child(run, "sidecar.workspace_scan", {});
				return;
			case "store":
				if (run && e.event.event === "question") {
					const id = e.event.data.question_id;
					run.questions.set(id, this.child(run, "sidecar.question", { [SIDECAR.questionId]: id }));
				}
				return;
			case "replyQuestion": {
				const span = run?.questions.get(e.id);
				run?.questions.delete(e.id);
				this.endSpan(span, { [SIDECAR.answeredBy]: e.by });
				return;
			}
			case "cancelQuestionTimer": {
				if (replied.has(e.id)) return;
				const span = run?.questions.get(e.id);
				run?.questions.delete(e.id);
				this.endSpan(span, { [SIDECAR.answeredBy]: "nobody" });
				return;
			}
			case "end":
				// A run that did not complete drops the follow-ups queued behind it (run-machine.ts): their requests too.
				if (e.end.status !== "completed") session.requested.length = 0;
				if (!run) return;
				this.endRun(session, run, {
					[SIDECAR.outcome]: e.end.status,
					...(e.end.status === "completed"
						? {}
						: { [SIDECAR.failureCode]: e.end.code, [GEN_AI.errorType]: e.end.code }),
				});
				return;
			default:
				return;
		}
	}

	/** A run begins, or (the same run number) resumes after the engine came back. */
	private begin(session: SessionTrace, step: RunStep): void {
		const now = this.o.now();
		const current = session.run;
		if (current && current.number === step.run) {
			this.endSpan(current.recycle, {});
			current.recycle = undefined;
			return;
		}
		if (current) this.endRun(session, current, { [SIDECAR.outcome]: "superseded" });
		const asked = session.requested.shift();
		// A follow-up that waited behind the run before it: its run counts from the request.
		const queued = asked !== undefined && step.input.type !== "start" && now > asked.at;
		const span = this.o.tracer.startSpan(
			"invoke_agent opencode",
			{
				kind: SpanKind.INTERNAL,
				startTime: queued ? asked.at : now,
				attributes: {
					[GEN_AI.operationName]: "invoke_agent",
					[GEN_AI.agentName]: "opencode",
					[GEN_AI.conversationId]: step.sessionId,
					[SIDECAR.sessionId]: step.sessionId,
					[SIDECAR.runNumber]: step.run,
				},
			},
			asked?.parent ?? ROOT_CONTEXT,
		);
		const run: LiveRun = {
			number: step.run,
			span,
			context: trace.setSpan(ROOT_CONTEXT, span),
			tools: new Map(),
			questions: new Map(),
		};
		session.run = run;
		session.traceId = span.spanContext().traceId;
		if (queued) this.o.tracer.startSpan("sidecar.queued", { startTime: asked.at }, run.context).end(now);
	}

	private endRun(session: SessionTrace, run: LiveRun, attributes: Attributes): void {
		const open = [...run.tools.values(), ...run.questions.values(), run.scan, run.recycle];
		for (const span of open) this.endSpan(span, { [SIDECAR.outcome]: "run_ended" });
		run.span.setAttributes(attributes);
		if (attributes[SIDECAR.outcome] !== "completed" && attributes[SIDECAR.outcome] !== "cancelled") {
			run.span.setStatus({ code: SpanStatusCode.ERROR, message: String(attributes[SIDECAR.failureCode] ?? "") });
		}
		run.span.end(this.o.now());
		if (session.run === run) session.run = undefined;
	}

	stored(sessionId: string, event: StoredEvent): void {
		const run = this.sessions.get(sessionId)?.run;
		if (!run) return;
		if (event.event === "tool_call") {
			const { tool, call_id } = event.data;
			const span = this.child(run, `execute_tool ${tool}`, {
				[GEN_AI.operationName]: "execute_tool",
				[GEN_AI.toolName]: tool,
				[GEN_AI.toolCallId]: call_id,
				[GEN_AI.toolType]: "function",
				...(this.o.captureContent ? { [GEN_AI.toolCallArguments]: JSON.stringify(event.data.args) } : {}),
			});
			run.tools.get(call_id)?.end(this.o.now());
			run.tools.set(call_id, span);
		} else if (event.event === "tool_result") {
			const span = run.tools.get(event.data.call_id);
			if (!span) return;
			run.tools.delete(event.data.call_id);
			const { result, is_error } = event.data;
			if (this.o.captureContent) {
				span.setAttribute(GEN_AI.toolCallResult, String(is_error ? (result.error ?? "") : (result.output ?? "")));
			}
			if (is_error) {
				span.setAttribute(GEN_AI.errorType, "tool_error");
				span.setStatus({ code: SpanStatusCode.ERROR });
			}
			span.end(this.o.now());
		}
	}

	keyWait(sessionId: string, reason: string): (failure?: string) => void {
		const s = this.sessions.get(sessionId);
		const parent = s?.run?.context ?? s?.requested.at(-1)?.parent ?? ROOT_CONTEXT;
		const span = this.o.tracer.startSpan(
			"sidecar.key_wait",
			{ startTime: this.o.now(), attributes: { [SIDECAR.sessionId]: sessionId, [SIDECAR.reason]: reason } },
			parent,
		);
		return (failure) => {
			if (failure !== undefined) {
				span.setAttribute(GEN_AI.errorType, "key_unavailable");
				span.setStatus({ code: SpanStatusCode.ERROR });
			}
			span.end(this.o.now());
		};
	}

	llmCall(sessionId: string, call: LlmRequest): LlmCallSpan | undefined {
		const run = this.sessions.get(sessionId)?.run;
		if (!run) return undefined;
		return llmCallSpan(this.o.tracer, run.context, call, this.o);
	}

	traceId(sessionId: string): string | undefined {
		return this.sessions.get(sessionId)?.traceId;
	}

	/** The sidecar stops: runs in progress end their spans here (they resume, or end, in the next process). */
	closeAll(): void {
		for (const s of this.sessions.values()) if (s.run) this.endRun(s, s.run, { [SIDECAR.outcome]: "sidecar_stopped" });
	}

	private child(run: LiveRun, name: string, attributes: Attributes): Span {
		return this.o.tracer.startSpan(name, { startTime: this.o.now(), attributes }, run.context);
	}

	private endSpan(span: Span | undefined, attributes: Attributes): void {
		if (!span) return;
		span.setAttributes(attributes);
		span.end(this.o.now());
	}
}
