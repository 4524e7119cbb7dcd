import type { ScriptedLlm } from "../../test/support/scripted-llm";
import { makeTempDirs } from "../../test/support/workspace";
import { cancel, createSession } from "../lib/api";
import { startChild } from "../lib/child";
import { now, sleep } from "../lib/clock";
import { MB, memoryOf } from "../lib/proc";
import { type Row, type RowResult, ratio } from "../lib/result";
import { startSidecarHost } from "../lib/sidecar-host";
import { openCounters } from "../lib/sse-counter";
import { round } from "../lib/stats";

const SESSIONS = 5;
const EVENTS = 20_000;
const SUBSCRIBERS = 200;
/** Per session; 5 sessions × 40 subscribers make 500,000 frames/s, well within what the sidecar serves. */
const PER_SECOND = 2_500;
const SETTLE_MS = 2_000;

/**
 * The sidecar's own RSS (its engine is another process, not counted): idle
 * (the real `src/main.ts`, from the start row), and on a fresh sidecar host
 * with 5 running sessions that each stored 20,000 token events while 200
 * subscribers (40 per session) followed them live and stay connected.
 */
export async function memoryRows(llm: ScriptedLlm, idleRssMb: number[]): Promise<RowResult> {
	const bareElysiaMb = await bareElysiaIdle();
	const dirs = makeTempDirs("bench-memory-");
	const host = await startSidecarHost(dirs);
	const ids: string[] = [];
	let hostIdle: number;
	let loaded: { rss: number; peak: number };
	let delivered = 0;
	try {
		await sleep(SETTLE_MS);
		hostIdle = memoryOf(host.child.pid).rss / MB;
		for (let i = 0; i < SESSIONS; i++) ids.push((await createSession(host.base, llm, [{ kind: "hang" }])).id);
		const sets = await Promise.all(
			ids.map((id) =>
				openCounters(SUBSCRIBERS / SESSIONS, {
					port: host.child.hello.port,
					path: `/sessions/${id}/stream`,
					sampleEvery: Number.MAX_SAFE_INTEGER,
					offset: 0,
				}),
			),
		);
		try {
			const injected = await Promise.all(
				ids.map((session) =>
					host.child.request<"inject">({ op: "inject", session, count: EVENTS, perSecond: PER_SECOND, prefix: "m" }),
				),
			);
			const all = sets.flatMap((s, i) => s.counters.map((c) => ({ c, last: injected[i]?.lastId ?? 0 })));
			const deadline = now() + 30_000;
			while (now() < deadline && all.some(({ c, last }) => !c.closed && c.lastId < last)) await sleep(20);
			delivered = all.filter(({ c, last }) => c.lastId >= last).length;
			await sleep(SETTLE_MS);
			loaded = memoryOf(host.child.pid);
		} finally {
			for (const s of sets) s.close();
		}
	} finally {
		for (const id of ids) await cancel(host.base, id);
		await host.stop();
		dirs.cleanup();
	}
	const idle = Math.max(...idleRssMb);
	const idleRow: Row = {
		id: "memory.idle",
		figure: "memory: sidecar RSS idle (`src/main.ts` after `/ready`, engine excluded; worst of the start runs)",
		measured: { value: round(idle), unit: "MB" },
		goal: "≤ 60 MB",
		met: idle <= 60,
		detail: { runs_mb: idleRssMb.map(round), bench_host_idle_mb: round(hostIdle) },
	};
	const elysiaRow: Row = {
		id: "memory.idle_vs_elysia",
		figure: "memory: sidecar RSS idle against a bare Elysia app (one route) on the same Bun",
		baseline: { label: "bare Elysia app idle", value: round(bareElysiaMb), unit: "MB" },
		measured: { value: round(idle), unit: "MB" },
		comparison: { kind: "ratio", value: round(ratio(idle, bareElysiaMb)) },
		goal: "≤ 1.5×",
		met: ratio(idle, bareElysiaMb) <= 1.5,
	};
	const loadedRow: Row = {
		id: "memory.loaded",
		figure: `memory: sidecar RSS with ${SESSIONS} sessions × ${EVENTS.toLocaleString("en")} events and ${SUBSCRIBERS} subscribers`,
		measured: { value: round(loaded.rss / MB), unit: "MB" },
		goal: "≤ 150 MB",
		met: loaded.rss / MB <= 150,
		detail: {
			peak_mb: round(loaded.peak / MB),
			host_idle_mb: round(hostIdle),
			subscribers_caught_up: delivered,
			per_session_rate: PER_SECOND,
		},
	};
	// The idle figure comes from the start group's runs of the real server.
	return {
		rows: idleRssMb.length > 0 ? [idleRow, elysiaRow, loadedRow] : [loadedRow],
		notes: [
			`Memory: VmRSS of the sidecar's own process. Loaded: a fresh sidecar host, ${SESSIONS} running sessions, ${SUBSCRIBERS} raw-socket subscribers connected first, then ${EVENTS.toLocaleString("en")} token events published into each session at ${PER_SECOND.toLocaleString("en")}/s, read ${SETTLE_MS / 1000} s after every subscriber caught up (peak VmHWM in results.json).`,
		],
	};
}

/** VmRSS of a bare Elysia app (bench/host/bare-elysia.ts), read after the same settling time as the sidecar's. */
async function bareElysiaIdle(): Promise<number> {
	const child = await startChild("bare-elysia", {});
	try {
		await sleep(SETTLE_MS);
		return memoryOf(child.pid).rss / MB;
	} finally {
		await child.stop();
	}
}
