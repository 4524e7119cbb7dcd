import { loadavg } from "node:os";
import type { ScriptedLlm, Turn } from "../../test/support/scripted-llm";
import { makeTempDirs } from "../../test/support/workspace";
import { waitEnded } from "../lib/api";
import { now, sleep } from "../lib/clock";
import { type MainProcess, startMain } from "../lib/main-process";
import { cpuSecondsOf, MB } from "../lib/proc";
import type { Row, RowResult } from "../lib/result";
import { sidecarEnv } from "../lib/sidecar-host";
import { round } from "../lib/stats";
import { treeCpuSeconds, treePss } from "../lib/tree";

/** Rest after `/ready` (and after the runs) before memory is read. */
const REST_MS = 20_000;
const CPU_WINDOW_S = Number(process.env.ENVELOPE_CPU_SECONDS ?? 60);
const CONCURRENT = 5;
const RUNS = Number(process.env.ENVELOPE_RUNS ?? 60);
const SAMPLE_MS = 200;

/**
 * The pod's resource envelope (issue 21): the whole process tree `npm start`
 * starts (the sidecar, its engine and the agent's tool processes), PSS from
 * /proc/<pid>/smaps_rollup and CPU from /proc/<pid>/stat, scripted model.
 * The engine is OPENCODE_BIN's (default: the one installed with the sidecar),
 * so the row runs per engine generation. Recycle settings are those `auto`
 * derives for the pod's 1 GiB limit (this machine's cgroup has none).
 */
export async function envelopeRows(llm: ScriptedLlm): Promise<RowResult> {
	const dirs = makeTempDirs("bench-envelope-");
	const env = sidecarEnv(dirs, {
		MAX_CONCURRENT_SESSIONS: String(CONCURRENT),
		ENGINE_RSS_SOFT_LIMIT: "512",
		ENGINE_RSS_HARD_LIMIT: "768",
		ENGINE_RECYCLE_GROWTH: "128",
		...(process.env.OPENCODE_BIN ? { OPENCODE_BIN: process.env.OPENCODE_BIN } : {}),
	});
	const m = await startMain(env, 180_000);
	const engineName = process.env.OPENCODE_BIN ?? "opencode 1.18.33 (installed)";
	try {
		await sleep(REST_MS);
		const rest = treePss(m.pid);
		const cpuRest = await cpuOver(m, CPU_WINDOW_S);
		const warm = await firstOutputMs(m.base, llm, streamTurns(), "warm");
		const loaded = await concurrent(m, llm);
		const before = m.pid;
		const many = await manyRuns(m, llm);
		await sleep(REST_MS);
		const after = treePss(before);
		const recycles = await recycleCount(m.base);
		const cost = await firstOutputMs(m.base, llm, streamTurns(), "after the runs");
		const mib = (b: number) => round(b / MB);
		const load = (loadavg()[0] ?? 0).toFixed(2);
		const row = (
			id: string,
			figure: string,
			value: number,
			unit: string,
			goal: string,
			met?: boolean,
			detail?: Record<string, unknown>,
		): Row => ({
			id: `envelope.${id}`,
			figure: `envelope (${engineName}): ${figure}`,
			measured: { value, unit },
			goal,
			...(met === undefined ? {} : { met }),
			...(detail ? { detail } : {}),
		});
		return {
			rows: [
				row(
					"rest_pss",
					`PSS of the whole tree at rest, ${REST_MS / 1000} s after /ready`,
					mib(rest.total),
					"MiB",
					"≤ 256 MiB (the request)",
					rest.total / MB <= 256,
					{
						by_process_mib: rest.byProcess.map((p) => `${p.comm}:${mib(p.pss)}`),
					},
				),
				row(
					"rest_cpu",
					`CPU at rest over ${CPU_WINDOW_S} s (% of one core)`,
					round(cpuRest.tree),
					"%",
					"≤ 0.5 % for both; the sidecar alone ≤ 0.1 %",
					cpuRest.tree <= 0.5 && cpuRest.sidecar <= 0.1,
					{
						sidecar_pct: round(cpuRest.sidecar),
						engine_pct: round(cpuRest.tree - cpuRest.sidecar),
						load_average: cpuRest.load,
					},
				),
				row(
					"peak_pss",
					`peak PSS with ${CONCURRENT} runs streaming at once`,
					mib(loaded.peak),
					"MiB",
					"≤ 512 MiB (half the limit left for the agent's builds)",
					loaded.peak / MB <= 512,
				),
				row(
					"stream_cpu",
					`CPU while ${CONCURRENT} runs stream (% of one core)`,
					round(loaded.cpu),
					"%",
					"reported",
					undefined,
					{ seconds: round(loaded.seconds) },
				),
				row(
					"after_runs_pss",
					`PSS at rest after ${RUNS} runs with a tool call, ${CONCURRENT} at a time`,
					mib(after.total),
					"MiB",
					"≤ 384 MiB",
					after.total / MB <= 384,
					{
						by_process_mib: after.byProcess.map((p) => `${p.comm}:${mib(p.pss)}`),
						peak_mib: mib(many.peak),
						engine_recycles: recycles,
						failed_runs: many.failed,
					},
				),
				row(
					"recycle_cost",
					"time to first output of a run right after the runs (engine recycled at idle when the policy says so) against a warm engine's",
					round(cost.ms),
					"ms",
					"reported",
					undefined,
					{
						warm_engine_ms: round(warm.ms),
						added_ms: round(cost.ms - warm.ms),
						refused_503: cost.refused,
						recycled: recycles > 0,
					},
				),
			],
			notes: [
				`Envelope (${engineName}): \`src/main.ts\` as \`npm start\` runs it, MAX_CONCURRENT_SESSIONS=${CONCURRENT}, the recycle settings \`auto\` gives a 1 GiB container (soft 512, hard 768, growth 128 MiB), scripted model. PSS summed over the process tree (/proc/<pid>/task/*/children) from smaps_rollup; CPU from /proc/<pid>/stat over the window. Load average at the end: ${load} (2 cores shared; re-measure on a quiet machine).`,
			],
		};
	} finally {
		await m.stop();
		dirs.cleanup();
	}
}

function streamTurns(): Turn[] {
	return [{ kind: "text", text: "word ".repeat(150).trim(), chunks: 150, delayMs: 20 }];
}

function toolTurns(i: number): Turn[] {
	return [
		{
			kind: "tool",
			calls: [
				{
					name: "bash",
					args: { command: `echo run ${i} > run-${i % 10}.txt && cat run-${i % 10}.txt`, description: "Write a file" },
				},
			],
		},
		{ kind: "text", text: `Run ${i} done.`, chunks: 4 },
	];
}

async function post(
	base: string,
	llm: ScriptedLlm,
	turns: Turn[],
	tools: string[] = [],
): Promise<{ id: string; status: number }> {
	const key = `sk-bench-${crypto.randomUUID()}`;
	llm.script(key, turns);
	const id = crypto.randomUUID();
	const res = await fetch(`${base}/sessions`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			session_id: id,
			prompt: "Do what you are told.",
			model_config: {
				provider: "openai-compatible",
				model: "bench",
				api_key: key,
				temperature: 0,
				max_tokens: 4096,
				enabled_tools: tools,
				api_endpoint: llm.url,
			},
		}),
	});
	await res.arrayBuffer();
	return { id, status: res.status };
}

/** POST (retrying while the engine restarts: 503) to the session's first `output` event on its stream. */
async function firstOutputMs(
	base: string,
	llm: ScriptedLlm,
	turns: Turn[],
	what: string,
): Promise<{ ms: number; refused: number }> {
	const started = now();
	let refused = 0;
	for (;;) {
		const { id, status } = await post(base, llm, turns);
		if (status === 503) {
			refused++;
			await sleep(100);
			if (now() - started > 180_000) throw new Error(`no run accepted ${what}`);
			continue;
		}
		if (status !== 201) throw new Error(`POST /sessions answered ${status} ${what}`);
		const res = await fetch(`${base}/sessions/${id}/stream`);
		const reader = (res.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		let text = "";
		while (!text.includes("event: output")) {
			const { value, done } = await reader.read();
			if (done) throw new Error(`stream ended without output ${what}`);
			text += decoder.decode(value, { stream: true });
		}
		const ms = now() - started;
		await reader.cancel();
		await waitEnded(base, id, 120_000);
		return { ms, refused };
	}
}

async function cpuOver(m: MainProcess, seconds: number): Promise<{ tree: number; sidecar: number; load: string }> {
	const t0 = treeCpuSeconds(m.pid);
	const s0 = cpuSecondsOf(m.pid);
	const load0 = loadavg()[0] ?? 0;
	await sleep(seconds * 1000);
	return {
		tree: ((treeCpuSeconds(m.pid) - t0) / seconds) * 100,
		sidecar: ((cpuSecondsOf(m.pid) - s0) / seconds) * 100,
		load: `${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}`,
	};
}

/** Samples the tree's PSS until `done` settles; the peak. */
async function peakWhile(pid: number, done: Promise<unknown>): Promise<number> {
	let peak = 0;
	let finished = false;
	void done.finally(() => {
		finished = true;
	});
	while (!finished) {
		peak = Math.max(peak, treePss(pid).total);
		await sleep(SAMPLE_MS);
	}
	return peak;
}

async function concurrent(m: MainProcess, llm: ScriptedLlm): Promise<{ peak: number; cpu: number; seconds: number }> {
	const c0 = treeCpuSeconds(m.pid);
	const t0 = now();
	const runs = (async () => {
		const ids = await Promise.all(Array.from({ length: CONCURRENT }, () => post(m.base, llm, streamTurns())));
		await Promise.all(ids.map(({ id }) => waitEnded(m.base, id, 300_000)));
	})();
	const peak = await peakWhile(m.pid, runs);
	await runs;
	const seconds = (now() - t0) / 1000;
	return { peak, cpu: ((treeCpuSeconds(m.pid) - c0) / seconds) * 100, seconds };
}

async function manyRuns(m: MainProcess, llm: ScriptedLlm): Promise<{ peak: number; failed: number }> {
	let next = 0;
	let failed = 0;
	const worker = async () => {
		while (next < RUNS) {
			const i = next++;
			let created = await post(m.base, llm, toolTurns(i), ["bash"]);
			while (created.status === 503) {
				await sleep(200);
				created = await post(m.base, llm, toolTurns(i), ["bash"]);
			}
			if ((await waitEnded(m.base, created.id, 300_000)) !== "completed") failed++;
		}
	};
	const all = Promise.all(Array.from({ length: CONCURRENT }, worker));
	const peak = await peakWhile(m.pid, all);
	await all;
	return { peak, failed };
}

async function recycleCount(base: string): Promise<number> {
	const text = await (await fetch(`${base}/metrics`)).text();
	return text
		.split("\n")
		.filter((l) => l.startsWith("opencode_sidecar_engine_recycles_total{"))
		.reduce((a, l) => a + Number(l.split(" ").at(-1)), 0);
}
