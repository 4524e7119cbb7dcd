import type { ScriptedLlm } from "../../test/support/scripted-llm";
import { cancel, createSession } from "../lib/api";
import { type Child, startChild } from "../lib/child";
import type { LoadResult } from "../lib/load";
import { cpuSecondsOf, machineTicks } from "../lib/proc";
import { type Row, type RowResult, ratio } from "../lib/result";
import type { SidecarHost } from "../lib/sidecar-host";
import { openCounters } from "../lib/sse-counter";
import { round, roundAll } from "../lib/stats";

const PER_SECOND = 1_000;
const SECONDS = 5;
const SESSIONS = 5;
const STREAMS = 200;
/** Tokens per second per session in the phase with traffic: a fast model. */
const TRAFFIC_PER_SECOND = 100;

/**
 * `/healthz` at 1,000 requests/s from a load generator process of its own
 * (bench/host/loadgen.ts): on the idle sidecar (baseline), then with
 * 200 SSE streams open on 5 running sessions (their model calls hang, so the
 * streams are quiet), then with those streams carrying 100 tokens/s per
 * session, then idle again.
 */
export async function probeRows(host: SidecarHost, llm: ScriptedLlm): Promise<RowResult> {
	const loadgen = await startChild("loadgen", {});
	try {
		return await measure(host, llm, loadgen);
	} finally {
		await loadgen.stop();
	}
}

async function measure(host: SidecarHost, llm: ScriptedLlm, loadgen: Child): Promise<RowResult> {
	const url = `${host.base}/healthz`;
	// Each phase also notes the sidecar's CPU time over it.
	const phase = async (seconds: number): Promise<Phase> => {
		const cpu = cpuSecondsOf(host.child.pid);
		const machine = machineTicks();
		const r = await loadgen.request<"load">({ op: "load", url, perSecond: PER_SECOND, seconds }, (seconds + 30) * 1000);
		const after = machineTicks();
		return {
			...r,
			sidecarCpuSeconds: cpuSecondsOf(host.child.pid) - cpu,
			machineBusy: (after.busy - machine.busy) / Math.max(1, after.total - machine.total),
		};
	};
	await phase(1); // warm the connections and the route
	const idleBefore = await phase(SECONDS);
	const ids: string[] = [];
	let quiet: Phase;
	let traffic: Phase;
	try {
		for (let i = 0; i < SESSIONS; i++) ids.push((await createSession(host.base, llm, [{ kind: "hang" }])).id);
		const offset = await host.child.clockOffset();
		const sets = await Promise.all(
			ids.map((id) =>
				openCounters(STREAMS / SESSIONS, {
					port: host.child.hello.port,
					path: `/sessions/${id}/stream`,
					sampleEvery: 10,
					offset,
				}),
			),
		);
		try {
			const open = await host.child.request<"streams">({ op: "streams" });
			if (open.open < STREAMS) throw new Error(`only ${open.open} streams open`);
			quiet = await phase(SECONDS);
			const injecting = ids.map((session) =>
				host.child.request({
					op: "inject",
					session,
					count: TRAFFIC_PER_SECOND * (SECONDS + 1),
					perSecond: TRAFFIC_PER_SECOND,
					prefix: "probe",
				}),
			);
			traffic = await phase(SECONDS);
			await Promise.all(injecting);
		} finally {
			for (const s of sets) s.close();
		}
	} finally {
		for (const id of ids) await cancel(host.base, id);
	}
	// Idle once more after the streams closed: the baseline is the mean of the two, so drift in the machine's
	// load during the group does not favour either side.
	const idleAfter = await phase(SECONDS);
	const idle = (idleBefore.latency.p99 + idleAfter.latency.p99) / 2;
	const row = (id: string, figure: string, r: Phase): Row => ({
		id,
		figure,
		baseline: { label: "`/healthz` on the idle sidecar, same rate, before and after", value: round(idle), unit: "ms" },
		measured: { value: round(r.latency.p99), unit: "ms" },
		comparison: { kind: "ratio", value: round(ratio(r.latency.p99, idle)) },
		goal: "≤ 2× idle and < 10 ms",
		met: r.latency.p99 <= 2 * idle && r.latency.p99 < 10,
		detail: { idle_before: describe(idleBefore), idle_after: describe(idleAfter), loaded: describe(r) },
	});
	return {
		notes: [
			`Probes: open-loop \`GET /healthz\` at ${PER_SECOND.toLocaleString("en")}/s for ${SECONDS} s from a separate load-generator process (bench/host/loadgen.ts, keep-alive connections, latency = send to full response); ${STREAMS} raw-socket subscribers on ${SESSIONS} running sessions whose model calls hang.`,
		],
		rows: [
			row(
				"probes.healthz.streams",
				`probes: \`/healthz\` p99 at ${PER_SECOND.toLocaleString("en")} req/s with ${STREAMS} streams open (quiet)`,
				quiet,
			),
			row(
				"probes.healthz.traffic",
				`probes: the same while the ${STREAMS} streams carry ${TRAFFIC_PER_SECOND} tokens/s per session`,
				traffic,
			),
		],
	};
}

type Phase = LoadResult & {
	sidecarCpuSeconds: number;
	/** Share of all cores' time the whole machine was busy during the phase (0-1). */
	machineBusy: number;
};

function describe(r: Phase): Record<string, unknown> {
	return {
		latency_ms: roundAll(r.latency),
		sidecar_cpu_seconds: round(r.sidecarCpuSeconds),
		machine_cpu_busy_percent: round(r.machineBusy * 100),
		achieved_per_second: round(r.achieved),
		errors: r.errors,
		skipped: r.skipped,
	};
}
