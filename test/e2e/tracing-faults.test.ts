import { afterAll, beforeAll, expect, test } from "bun:test";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver";
import { parseExposition } from "../support/prometheus-text";
import type { SidecarProcess } from "../support/sidecar-process";
import { readStream } from "../support/sse-client";

/**
 * The collector never hurts a run: answering 500, down, or hanging, runs complete as they would
 * without tracing; the exporter's queue stays bounded (OTEL_BSP_MAX_QUEUE_SIZE) and what it drops
 * is counted in /metrics; SIGTERM with a hanging collector still exits cleanly within SHUTDOWN_TIMEOUT.
 */
// No warm-up run: the first run here may be slow, nothing in this file is timed.
const e2e = useE2eSidecar({ sidecar: false, warmUp: false });
let receiver: OtlpReceiver;
let sidecar: SidecarProcess;
let port: number;

beforeAll(async () => {
	receiver = startOtlpReceiver("fail");
	port = Number(new URL(receiver.url).port);
	sidecar = await e2e.start({
		dirs: e2e.makeDirs(),
		// A loaded test machine can take minutes to start the engine; nothing here is timed.
		readyTimeoutMs: 150_000,
		env: {
			OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
			OTEL_BSP_SCHEDULE_DELAY: "50",
			OTEL_BSP_MAX_QUEUE_SIZE: "3",
			SHUTDOWN_TIMEOUT: "6",
			KUBERNETES_REPORTER: "off",
			// A loaded test machine can take longer than the default to start the engine.
			ENGINE_START_TIMEOUT: "120",
		},
	});
});

afterAll(async () => {
	await receiver?.stop();
});

async function dropped(): Promise<Record<string, number>> {
	const text = await (await fetch(`${sidecar.url}/metrics`)).text();
	const family = parseExposition(text).get("opencode_sidecar_trace_spans_dropped_total");
	return Object.fromEntries((family?.samples ?? []).map((s) => [s.labels.reason ?? "", s.value]));
}

/** Polls /metrics until `pred` holds: the counts change when the exporter's answer comes back. */
async function droppedUntil(pred: (d: Record<string, number>) => boolean): Promise<Record<string, number>> {
	for (;;) {
		const d = await dropped();
		if (pred(d)) return d;
		await Bun.sleep(50); // polling an observable value, not waiting for time to pass
	}
}

async function runToCompletion(text: string): Promise<void> {
	const key = e2e.newKey("sk-collector", [
		{ kind: "tool", calls: [{ name: "bash", args: { command: "echo hi", description: "Say hi" } }] },
		{ kind: "text", text },
	]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
	const res = await postSession(sidecar.url, body);
	e2e.bodies.push(await res.text());
	expect(res.status).toBe(201);
	const r = await readStream(`${sidecar.url}/sessions/${body.session_id}/stream`);
	e2e.seen.push(r.events);
	expect(r.events.at(-1)).toMatchObject({ event: "complete", data: { final_message: text } });
	expect(r.events.some((e) => e.event === "tool_result" && e.data.tool === "bash" && !e.data.is_error)).toBe(true);
}

test("a collector answering 500: the run completes, the lost spans are counted", async () => {
	const before = (await dropped()).export_failed ?? 0;
	await runToCompletion("Done despite a broken collector.");
	const after = await droppedUntil((d) => (d.export_failed ?? 0) > before);
	expect(receiver.requests).toBeGreaterThan(0);
	expect(after.export_failed).toBeGreaterThan(before);
});

test("a collector that is down: the run completes, the lost spans are counted", async () => {
	await receiver.stop();
	const before = (await dropped()).export_failed ?? 0;
	await runToCompletion("Done without a collector.");
	const after = await droppedUntil((d) => (d.export_failed ?? 0) > before);
	expect(after.export_failed).toBeGreaterThan(before);
});

test("a collector that hangs: the run completes, the queue stays at its limit and drops are counted; SIGTERM still exits cleanly in time", async () => {
	receiver = startOtlpReceiver("hang", port);
	const before = (await dropped()).queue_full ?? 0;
	await runToCompletion("Done despite a hanging collector.");
	// One export hangs; the spans after it queue up to OTEL_BSP_MAX_QUEUE_SIZE (3) and the rest are dropped.
	const after = await droppedUntil((d) => (d.queue_full ?? 0) > before);
	expect(receiver.requests).toBeGreaterThan(0);
	expect(after.queue_full).toBeGreaterThan(before);
	// The flush at shutdown gives up on the hanging collector before SHUTDOWN_TIMEOUT's exit 1.
	expect(await sidecar.stop()).toBe(0);
	expect(sidecar.logs.some((l) => l.msg === "stopped")).toBe(true);
	expect(sidecar.logs.some((l) => String(l.msg).includes("SHUTDOWN_TIMEOUT"))).toBe(false);
});
