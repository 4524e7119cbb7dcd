import { join } from "node:path";
import { makeTempDirs } from "../../test/support/workspace";
import { sleep } from "../lib/clock";
import { timeEngineAlone } from "../lib/engine-alone";
import { startMain } from "../lib/main-process";
import { MB, memoryOf } from "../lib/proc";
import { type RowResult, ratio } from "../lib/result";
import { sidecarEnv } from "../lib/sidecar-host";
import { median, round } from "../lib/stats";

const RUNS = 3;
/** Quiet time after /ready before the idle memory reading. */
const SETTLE_MS = 2_000;

/**
 * Cold starts on fresh directories, as a new pod: the engine alone (spawn
 * to "listening on") and the whole sidecar (spawn to `/ready` 200, which
 * includes starting that same engine), alternated. The sidecar's idle RSS is
 * read after each start.
 */
export async function startRows(): Promise<RowResult & { idleRssMb: number[] }> {
	const engine: number[] = [];
	const sidecar: number[] = [];
	const idle: number[] = [];
	const milestones: Record<string, number>[] = [];
	for (let i = 0; i < RUNS; i++) {
		const a = makeTempDirs("bench-start-");
		try {
			const e = await timeEngineAlone(a.workspace, join(a.state, "engine"));
			engine.push(e.ms);
			await e.stop();
		} finally {
			a.cleanup();
		}
		const b = makeTempDirs("bench-start-");
		try {
			const m = await startMain(sidecarEnv(b));
			try {
				sidecar.push(m.readyMs);
				milestones.push(m.milestones);
				await sleep(SETTLE_MS);
				idle.push(memoryOf(m.pid).rss / MB);
			} finally {
				await m.stop();
			}
		} finally {
			b.cleanup();
		}
	}
	const e = median(engine);
	const s = median(sidecar);
	return {
		idleRssMb: idle,
		notes: [
			`Start: ${RUNS} cold starts each on fresh directories, alternating the engine alone (bench/lib/engine-alone.ts: \`opencode serve\` with the supervisor's arguments and environment, spawn to its "listening on" line) and \`bun src/main.ts\` (spawn to the first \`/ready\` 200, polled every 5 ms). Idle memory: the sidecar's own VmRSS (/proc/<pid>/status; the engine is a separate process) ${SETTLE_MS / 1000} s after \`/ready\`.`,
		],
		rows: [
			{
				id: "start.ready",
				figure: `start: process start to \`/ready\` 200, engine included (median of ${RUNS} cold starts)`,
				baseline: { label: "the engine alone: spawn to listening", value: round(e), unit: "ms" },
				measured: { value: round(s), unit: "ms" },
				comparison: { kind: "added", value: round(s - e) },
				goal: "overhead ≤ 500 ms",
				met: s - e <= 500,
				detail: {
					engine_ms: engine.map(round),
					sidecar_ms: sidecar.map(round),
					ratio: round(ratio(s, e)),
					sidecar_log_milestones_ms: milestones,
				},
			},
		],
	};
}
