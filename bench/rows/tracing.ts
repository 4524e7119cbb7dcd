import { join } from "node:path";
import { startOtlpReceiver } from "../../test/support/otlp-receiver";
import type { ScriptedLlm } from "../../test/support/scripted-llm";
import { makeTempDirs } from "../../test/support/workspace";
import { createSession, waitEnded } from "../lib/api";
import { BUN, REPO } from "../lib/child";
import { record } from "../lib/recorder";
import { type RowResult, ratio } from "../lib/result";
import { type SidecarHost, startSidecarHost } from "../lib/sidecar-host";
import { median, round, roundAll, summarize } from "../lib/stats";

const TOKENS = 2000;
const THROUGHPUT_RUNS = 3;
const CREATES = 12;
const LOADS = 3;
const TOKEN = /w(\d{5}) /g;
const token = (i: number) => `w${String(i).padStart(5, "0")} `;

/** Tokens per second from the model call reaching the scripted model to the last token on our stream. */
async function throughput(host: SidecarHost, llm: ScriptedLlm): Promise<number> {
	const text = Array.from({ length: TOKENS }, (_, i) => token(i)).join("");
	const session = await createSession(host.base, llm, [{ kind: "text", text, chunks: TOKENS, delayMs: 0 }]);
	const stream = record(`${host.base}/sessions/${session.id}/stream`, {});
	const requested = (await llm.waitForRequest((r) => r.key === session.key, 60_000)).at;
	await stream.done;
	const status = await waitEnded(host.base, session.id);
	let last = 0;
	const seen = new Set<number>();
	for (const { event, at } of stream.events()) {
		if (event.event !== "output") continue;
		for (const m of (JSON.parse(event.data) as { text: string }).text.matchAll(TOKEN)) {
			seen.add(Number(m[1]));
			last = Math.max(last, at);
		}
	}
	if (seen.size !== TOKENS) {
		const names = stream.events().map((e) => e.event.event);
		throw new Error(`tracing row lost tokens: ${seen.size} of ${TOKENS}; run ${status}; events ${names.join(",")}`);
	}
	return TOKENS / ((last - requested) / 1000);
}

/** `POST /sessions` sent → the run's first model call reaches the scripted model (one clock: this process). */
async function firstCall(host: SidecarHost, llm: ScriptedLlm, timeoutMs = 60_000): Promise<number> {
	const started = Date.now();
	const s = await createSession(host.base, llm, [{ kind: "text", text: "Done." }]);
	const at = (await llm.waitForRequest((r) => r.key === s.key, timeoutMs)).at;
	await waitEnded(host.base, s.id, timeoutMs);
	return at - started;
}

/** A fresh process: how long `loadTracing` takes and how much RSS it adds (the SDK's import, off or on). */
async function loadCost(on: boolean): Promise<{ ms: number; rssMb: number }> {
	const script = `
		const { loadTracing } = await import(${JSON.stringify(join(REPO, "src/telemetry/load.ts"))});
		Bun.gc(true);
		const rss = process.memoryUsage().rss;
		const t = performance.now();
		const tracing = await loadTracing(process.env, { podName: "", podNamespace: "", podUid: "" }, "bench");
		const ms = performance.now() - t;
		Bun.gc(true);
		console.log(JSON.stringify({ ms, rssMb: (process.memoryUsage().rss - rss) / 2 ** 20 }));
		await tracing.shutdown(100);`;
	const env = { PATH: process.env.PATH ?? "", ...(on ? { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" } : {}) };
	const proc = Bun.spawn([BUN, "-e", script], { cwd: REPO, env, stdout: "pipe" });
	const out = await new Response(proc.stdout).text();
	await proc.exited;
	return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { ms: number; rssMb: number };
}

/**
 * Tracing on (exporting to a local OTLP receiver in this process) against off: two sidecar hosts
 * side by side in the same run, each with its own engine, used alternately so that the machine's
 * load falls on both alike.
 */
export async function tracingRows(llm: ScriptedLlm): Promise<RowResult> {
	const receiver = startOtlpReceiver();
	const offDirs = makeTempDirs("bench-");
	const onDirs = makeTempDirs("bench-");
	let off: SidecarHost | undefined;
	let on: SidecarHost | undefined;
	try {
		// Generous start timeouts: the machine this runs on may be loaded (the load average is in the report).
		off = await startSidecarHost(offDirs, { ENGINE_START_TIMEOUT: "180" }, 240_000);
		on = await startSidecarHost(
			onDirs,
			{ ENGINE_START_TIMEOUT: "180", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
			240_000,
		);
		// The engine's project set-up (its first run: minutes on a loaded machine) is not timed.
		for (const h of [off, on]) await firstCall(h, llm, 300_000);
		const rates = { off: [] as number[], on: [] as number[] };
		for (let i = 0; i < THROUGHPUT_RUNS; i++) {
			rates.off.push(await throughput(off, llm));
			rates.on.push(await throughput(on, llm));
		}
		const first = { off: [] as number[], on: [] as number[] };
		for (let i = 0; i < CREATES; i++) {
			first.off.push(await firstCall(off, llm));
			first.on.push(await firstCall(on, llm));
		}
		const loads = { off: [] as { ms: number; rssMb: number }[], on: [] as { ms: number; rssMb: number }[] };
		for (let i = 0; i < LOADS; i++) {
			loads.off.push(await loadCost(false));
			loads.on.push(await loadCost(true));
		}
		const rateRatio = ratio(median(rates.on), median(rates.off));
		const f = { off: summarize(first.off), on: summarize(first.on) };
		const addedP50 = f.on.p50 - f.off.p50;
		const loadMs = { off: median(loads.off.map((l) => l.ms)), on: median(loads.on.map((l) => l.ms)) };
		const loadRss = { off: median(loads.off.map((l) => l.rssMb)), on: median(loads.on.map((l) => l.rssMb)) };
		return {
			notes: [
				`Tracing: two sidecar hosts in the same run, one with \`OTEL_EXPORTER_OTLP_ENDPOINT\` pointing at an OTLP/HTTP receiver in the bench process (test/support/otlp-receiver.ts, decoding every export), one without; used alternately. Throughput: ${TOKENS} tokens flat out through the gateway and our stream, model call → last token on our stream, median of ${THROUGHPUT_RUNS} each. First call: \`POST /sessions\` sent → the run's first model call reaching the scripted model, ${CREATES} each. Load: a fresh process timing \`loadTracing\` (the SDK's import when on) and the RSS it adds, median of ${LOADS}. The receiver got ${receiver.spans.length} spans.`,
			],
			rows: [
				{
					id: "tracing.relay.throughput",
					figure: `tracing on: relay throughput (median of ${THROUGHPUT_RUNS} runs of ${TOKENS} tokens)`,
					baseline: {
						label: "the same, tracing off (another host, same run)",
						value: round(median(rates.off)),
						unit: "tokens/s",
					},
					measured: { value: round(median(rates.on)), unit: "tokens/s" },
					comparison: { kind: "ratio", value: round(rateRatio) },
					goal: "≥ 0.98 (≤ 2 % lost)",
					met: rateRatio >= 0.98,
					detail: { on: rates.on.map(round), off: rates.off.map(round) },
				},
				{
					id: "tracing.first_call.p50",
					figure: `tracing on: \`POST /sessions\` → first provider call, p50 of ${CREATES}`,
					baseline: { label: "the same, tracing off", value: round(f.off.p50), unit: "ms" },
					measured: { value: round(f.on.p50), unit: "ms" },
					comparison: { kind: "added", value: round(addedP50) },
					goal: "≤ 1 ms and ≤ 2 % added",
					met: addedP50 <= 1 || addedP50 <= 0.02 * f.off.p50,
					detail: { on_ms: roundAll(f.on), off_ms: roundAll(f.off) },
				},
				{
					id: "tracing.load",
					figure: "tracing: `loadTracing` at start (fresh process), time and RSS added",
					baseline: { label: "tracing off (no OpenTelemetry module loaded)", value: round(loadMs.off), unit: "ms" },
					measured: { value: round(loadMs.on), unit: "ms" },
					comparison: { kind: "added", value: round(loadMs.on - loadMs.off) },
					goal: "reported",
					detail: {
						rss_added_mb_off: round(loadRss.off),
						rss_added_mb_on: round(loadRss.on),
						on: loads.on,
						off: loads.off,
					},
				},
			],
		};
	} finally {
		await off?.stop();
		await on?.stop();
		await receiver.stop();
		offDirs.cleanup();
		onDirs.cleanup();
	}
}
