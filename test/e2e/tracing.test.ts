import { afterAll, beforeAll, expect, test } from "bun:test";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import { type OtlpReceiver, type ReceivedSpan, spanTree, startOtlpReceiver } from "../support/otlp-receiver";
import { questionCall } from "../support/scripted-llm";
import { findSecrets } from "../support/secrets";
import type { SidecarProcess } from "../support/sidecar-process";
import { readStream } from "../support/sse-client";

const SECRET = "tracing-shared-secret-0123456789abcdef";
const auth = { authorization: `Bearer ${SECRET}` };
// Private words of the run: none may reach a span (content capture is off).
const PROMPT = `private-prompt-${crypto.randomUUID()}`;
const ARGUMENT = `private-argument-${crypto.randomUUID()}`;
const COMPLETION = `private-completion-${crypto.randomUUID()}`;
const ANSWER = "private-answer-b.txt";

// The callers' spans (as the backend's SDK would send them in `traceparent`).
const CALLER_1 = { trace: "4bf92f3577b34da6a3ce929d0e0e4736", span: "00f067aa0ba902b7" };
const CALLER_2 = { trace: "0af7651916cd43dd8448eb211c80319c", span: "b7ad6b7169203331" };
const traceparent = (c: { trace: string; span: string }) => `00-${c.trace}-${c.span}-01`;

// The private words are in the session's own events and records (that is their place): only spans are scanned for them.
const e2e = useE2eSidecar({ sidecar: false, warmUp: false, secrets: [SECRET] });
let receiver: OtlpReceiver;
let sidecar: SidecarProcess;

beforeAll(async () => {
	receiver = startOtlpReceiver();
	sidecar = await e2e.start({
		dirs: e2e.makeDirs(),
		// A loaded test machine can take minutes to start the engine; nothing here is timed.
		readyTimeoutMs: 150_000,
		env: {
			OPENCODE_SHARED_SECRET: SECRET,
			OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
			OTEL_SERVICE_NAME: "sidecar-under-test",
			OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=test",
			OTEL_BSP_SCHEDULE_DELAY: "100",
			POD_NAME: "agent-pod-1",
			POD_NAMESPACE: "agents",
			POD_UID: "6f1c2d3e-0000-4000-8000-000000000001",
			KUBERNETES_REPORTER: "off",
			// A loaded test machine can take longer than the default to start the engine.
			ENGINE_START_TIMEOUT: "120",
		},
	});
});

afterAll(async () => {
	await receiver?.stop();
});

const byName = (spans: readonly ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

test("a run with a tool call, a question and a queued follow-up is one span tree per caller, after the GenAI conventions", async () => {
	const key = e2e.newKey("sk-trace", [
		{ kind: "tool", calls: [{ name: "bash", args: { command: `echo ${ARGUMENT}`, description: "Echo a word" } }] },
		questionCall("Which file name?", "Name", [
			["a.txt", "first (Recommended)"],
			[ANSWER, "second"],
		]),
		{ kind: "text", text: `First run done: ${COMPLETION}` },
		{ kind: "text", text: "Second run done." },
	]);
	const body = sessionBody({
		prompt: PROMPT,
		model_config: { api_key: key, api_endpoint: e2e.llm.url, temperature: 0.3, max_tokens: 1000 },
	});
	const id = body.session_id;
	const created = await postSession(sidecar.url, body, {
		...auth,
		traceparent: traceparent(CALLER_1),
		tracestate: "vendor=1",
	});
	e2e.bodies.push(await created.text());
	expect(created.status).toBe(201);
	const stream = `${sidecar.url}/sessions/${id}/stream`;

	// The question waits for its answer; meanwhile a follow-up from another caller queues behind the run.
	const first = await readStream(stream, { headers: auth, until: (e) => e.event === "question" });
	e2e.seen.push(first.events);
	const question = first.events.find((e) => e.event === "question");
	const followUp = await fetch(`${sidecar.url}/sessions/${id}/messages`, {
		method: "POST",
		headers: { ...auth, "content-type": "application/json", traceparent: traceparent(CALLER_2) },
		body: JSON.stringify({ prompt: "And now the second part." }),
	});
	e2e.bodies.push(await followUp.text());
	expect(followUp.status).toBe(202);
	const answered = await fetch(`${sidecar.url}/sessions/${id}/questions/${question?.data.question_id}`, {
		method: "POST",
		headers: { ...auth, "content-type": "application/json" },
		body: JSON.stringify({ answers: [[ANSWER]] }),
	});
	expect(answered.status).toBe(200);
	// The stream ends with each run's terminal event; the next run's events follow on reconnecting.
	let last = question?.id;
	const completes: unknown[] = [];
	while (completes.length < 2) {
		const more = await readStream(stream, {
			headers: { ...auth, "last-event-id": String(last) },
			until: (e) => e.event === "complete",
		});
		e2e.seen.push(more.events);
		last = more.events.at(-1)?.id ?? last;
		completes.push(...more.events.filter((e) => e.event === "complete"));
	}

	const spans = await receiver.waitFor((all) => byName(all, "invoke_agent opencode").length === 2);
	const runs = byName(spans, "invoke_agent opencode").sort((a, b) => a.startMs - b.startMs);
	const [run1, run2] = runs as [ReceivedSpan, ReceivedSpan];

	// Parentage: each run continues its caller's trace, as a child of the caller's span.
	expect(run1).toMatchObject({ traceId: CALLER_1.trace, parentSpanId: CALLER_1.span, kind: 1, status: 0 });
	expect(run2).toMatchObject({ traceId: CALLER_2.trace, parentSpanId: CALLER_2.span, kind: 1, status: 0 });
	expect(run1.attributes).toMatchObject({
		"gen_ai.operation.name": "invoke_agent",
		"gen_ai.agent.name": "opencode",
		"gen_ai.conversation.id": id,
		"opencode_sidecar.session.id": id,
		"opencode_sidecar.run.number": 1,
		"opencode_sidecar.run.outcome": "completed",
	});
	expect(run2.attributes).toMatchObject({
		"opencode_sidecar.run.number": 2,
		"opencode_sidecar.run.outcome": "completed",
	});
	expect(run1.resource).toMatchObject({
		"service.name": "sidecar-under-test",
		"deployment.environment.name": "test",
		"k8s.pod.name": "agent-pod-1",
		"k8s.namespace.name": "agents",
		"k8s.pod.uid": "6f1c2d3e-0000-4000-8000-000000000001",
	});

	const childrenOf = (parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);
	const kids1 = childrenOf(run1);
	const kids2 = childrenOf(run2);
	// Run 1: four LLM calls (tool call, question, text; and the engine's title), the bash and question tools,
	// the question's wait, the workspace scan.
	const chats1 = kids1.filter((s) => s.name === "chat qwen2.5-coder");
	expect(chats1.length).toBeGreaterThanOrEqual(3);
	for (const chat of chats1) {
		expect(chat.kind).toBe(3); // CLIENT
		expect(chat.attributes).toMatchObject({
			"gen_ai.operation.name": "chat",
			"gen_ai.provider.name": "openai-compatible",
			"gen_ai.request.model": "qwen2.5-coder",
			"gen_ai.request.temperature": 0.3,
			"gen_ai.request.max_tokens": 1000,
			"http.response.status_code": 200,
		});
		expect(chat.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
		expect(chat.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0);
		expect(chat.attributes["opencode_sidecar.llm.time_to_first_byte_ms"]).toBeGreaterThanOrEqual(0);
		expect(chat.events.map((e) => e.name)).toContain("first_byte");
	}
	const reasons = chats1.flatMap((c) => c.attributes["gen_ai.response.finish_reasons"] as string[]);
	expect(reasons).toEqual(expect.arrayContaining(["tool_calls", "stop"]));
	const bash = kids1.find((s) => s.name === "execute_tool bash");
	expect(bash?.attributes).toMatchObject({
		"gen_ai.operation.name": "execute_tool",
		"gen_ai.tool.name": "bash",
		"gen_ai.tool.type": "function",
	});
	expect(String(bash?.attributes["gen_ai.tool.call.id"])).not.toBe("");
	expect(bash?.endMs).toBeGreaterThanOrEqual(bash?.startMs ?? Number.NaN);
	expect(kids1.find((s) => s.name === "execute_tool question")).toBeDefined();
	const wait = kids1.find((s) => s.name === "sidecar.question");
	expect(wait?.attributes).toMatchObject({
		"opencode_sidecar.question.id": question?.data.question_id,
		"opencode_sidecar.question.answered_by": "client",
	});
	expect(kids1.find((s) => s.name === "sidecar.workspace_scan")).toBeDefined();
	// Run 2 waited behind run 1 from the follow-up's request: its span starts then, with the wait as a child.
	const queued = kids2.find((s) => s.name === "sidecar.queued");
	expect(queued).toBeDefined();
	expect(run2.startMs).toBeLessThan(run1.endMs);
	expect(kids2.some((s) => s.name === "chat qwen2.5-coder")).toBe(true);

	// A person goes from the status (and the run's log lines) to the trace.
	const status = (await (await fetch(`${sidecar.url}/sessions/${id}/status`, { headers: auth })).json()) as {
		trace_id?: string;
	};
	expect(status.trace_id).toBe(CALLER_2.trace);
	const ended = sidecar.logs.filter((l) => l.session_id === id && l.msg === "session ended");
	expect(ended.map((l) => l.trace_id)).toEqual([CALLER_1.trace, CALLER_2.trace]);

	// Nothing private in any span or any byte the collector received: no key, secret, prompt, argument, output, answer.
	const hits = findSecrets([key, SECRET, PROMPT, ARGUMENT, COMPLETION, ANSWER, "Which file name?"], {
		texts: {
			spans: spans.map((s) => s.text).join("\n"),
			exports: receiver.bodies.map((b) => Buffer.from(b).toString("latin1")).join("\n"),
		},
	});
	expect(hits).toEqual([]);

	const show = (s: ReceivedSpan) => {
		const a = s.attributes;
		const detail = [
			a["gen_ai.tool.call.id"] ? `call ${a["gen_ai.tool.call.id"]}` : "",
			a["gen_ai.usage.input_tokens"] !== undefined
				? `in ${a["gen_ai.usage.input_tokens"]} out ${a["gen_ai.usage.output_tokens"]} finish ${JSON.stringify(a["gen_ai.response.finish_reasons"] ?? [])} ttfb ${a["opencode_sidecar.llm.time_to_first_byte_ms"]}ms`
				: "",
			a["opencode_sidecar.run.number"] !== undefined
				? `run ${a["opencode_sidecar.run.number"]} ${a["opencode_sidecar.run.outcome"]}`
				: "",
			a["opencode_sidecar.question.answered_by"] ? `answered by ${a["opencode_sidecar.question.answered_by"]}` : "",
		]
			.filter(Boolean)
			.join(", ");
		return `${s.name} [${s.endMs - s.startMs} ms]${detail ? ` ${detail}` : ""}`;
	};
	// The tree as the collector decoded it (kept in the test output for the docs and the issue).
	console.log(`trace ${CALLER_1.trace} (caller span ${CALLER_1.span}):\n${spanTree(spans, CALLER_1.trace, show)}`);
	console.log(`trace ${CALLER_2.trace} (caller span ${CALLER_2.span}):\n${spanTree(spans, CALLER_2.trace, show)}`);
});

test("a request without traceparent starts a new trace", async () => {
	const key = e2e.newKey("sk-trace-new", [{ kind: "text", text: "ok" }]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
	const res = await postSession(sidecar.url, body, auth);
	e2e.bodies.push(await res.text());
	expect(res.status).toBe(201);
	const r = await readStream(`${sidecar.url}/sessions/${body.session_id}/stream`, { headers: auth });
	e2e.seen.push(r.events);
	const spans = await receiver.waitFor((all) =>
		all.some(
			(s) => s.name === "invoke_agent opencode" && s.attributes["opencode_sidecar.session.id"] === body.session_id,
		),
	);
	const run = spans.find((s) => s.attributes["opencode_sidecar.session.id"] === body.session_id);
	expect(run?.parentSpanId).toBe("");
	expect(run?.traceId).toMatch(/^[0-9a-f]{32}$/);
	expect([CALLER_1.trace, CALLER_2.trace]).not.toContain(run?.traceId ?? "");
	const status = (await (
		await fetch(`${sidecar.url}/sessions/${body.session_id}/status`, { headers: auth })
	).json()) as {
		trace_id?: string;
	};
	expect(status.trace_id).toBe(run?.traceId);
});
