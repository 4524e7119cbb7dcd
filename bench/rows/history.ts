import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storedId, writeStoredSession } from "../../test/support/stored-history";
import { makeTempDirs, type TempDirs } from "../../test/support/workspace";
import { now, sleep } from "../lib/clock";
import { type MainProcess, startMain } from "../lib/main-process";
import { MB, memoryOf } from "../lib/proc";
import type { RowResult } from "../lib/result";
import { sidecarEnv } from "../lib/sidecar-host";
import { median, round, roundAll, summarize } from "../lib/stats";
import { timeToFirstEvent } from "./replay";

/** Stored history: ended sessions × events each, as issue 13 measured it. */
const SESSIONS = Number(process.env.BENCH_HISTORY_SESSIONS ?? 500);
const EVENTS = Number(process.env.BENCH_HISTORY_EVENTS ?? 10_000);
const RUNS = 3;
const SETTLE_MS = 2_000;
const REPLAYS = 100;
const LISTS = 100;

/**
 * The state directory of `SESSIONS` ended sessions of `EVENTS` events each, in
 * the sidecar's own format (test/support/stored-history.ts), built once and
 * kept under the temp dir between runs (~0.9 GB for 500 × 10,000).
 */
async function historyDir(): Promise<{ dir: string; note: string }> {
	const dir = join(tmpdir(), "opencode-sidecar-bench-history", `${SESSIONS}x${EVENTS}`);
	const done = join(dir, "complete");
	if (existsSync(done)) return { dir, note: `reused the cached state directory ${dir}` };
	const started = now();
	rmSync(dir, { recursive: true, force: true });
	mkdirSync(dir, { recursive: true });
	for (let n = 0; n < SESSIONS; n++) await writeStoredSession(dir, n, EVENTS);
	writeFileSync(done, new Date().toISOString());
	return { dir, note: `built ${dir} in ${round((now() - started) / 1000)} s` };
}

/** Drops the page cache (root only): the stored logs come from the disk, as after a node restart. */
function dropCaches(): boolean {
	try {
		Bun.spawnSync(["sync"]);
		writeFileSync("/proc/sys/vm/drop_caches", "3");
		return true;
	} catch {
		return false;
	}
}

const descriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

interface StartReading {
	healthz: number;
	ready: number;
	rssMb: number;
	fds: number;
	/** The sidecar's own account of its start (log message → ms after spawn, and any `*_ms` it logged). */
	milestones?: Record<string, number>;
}

/** One start on fresh directories; `history` links the stored sessions in. Leaves it running when `keep`. */
async function startOnce(
	history: string | undefined,
	keep: boolean,
): Promise<{ reading: StartReading; main?: MainProcess; dirs: TempDirs }> {
	const dirs = makeTempDirs("bench-history-");
	// Only the stored sessions are shared; the engine's home is new each time, as in the empty case.
	if (history) symlinkSync(join(history, "sessions"), join(dirs.state, "sessions"));
	const m = await startMain(sidecarEnv(dirs));
	await sleep(SETTLE_MS);
	const reading = {
		healthz: m.healthzMs,
		ready: m.readyMs,
		rssMb: memoryOf(m.pid).rss / MB,
		fds: descriptors(m.pid),
		milestones: m.milestones,
	};
	if (keep) return { reading, main: m, dirs };
	await m.stop();
	dirs.cleanup();
	return { reading, dirs };
}

async function firstEvents(base: string, ids: string[]): Promise<number[]> {
	const out: number[] = [];
	for (const id of ids) out.push(await timeToFirstEvent(`${base}/sessions/${id}/stream`, EVENTS / 2));
	return out;
}

async function listings(base: string): Promise<number[]> {
	const out: number[] = [];
	for (let i = 0; i < LISTS; i++) {
		const started = now();
		const res = await fetch(`${base}/sessions`);
		const { sessions } = (await res.json()) as { sessions: unknown[] };
		out.push(now() - started);
		if (sessions.length !== SESSIONS) throw new Error(`GET /sessions listed ${sessions.length}, not ${SESSIONS}`);
	}
	return out;
}

/**
 * Issue 13: starts with an empty state directory and with `SESSIONS` ×
 * `EVENTS` stored, alternated, the page cache dropped before each; then, on
 * the last start with history, reconnects to old sessions in the middle and
 * lists them.
 */
export async function historyRows(): Promise<RowResult> {
	const { dir, note } = await historyDir();
	const empty: StartReading[] = [];
	const stored: StartReading[] = [];
	let dropped = true;
	let last: { main?: MainProcess; dirs: TempDirs } | undefined;
	for (let i = 0; i < RUNS; i++) {
		dropped = dropCaches() && dropped;
		empty.push((await startOnce(undefined, false)).reading);
		dropped = dropCaches() && dropped;
		const r = await startOnce(dir, i === RUNS - 1);
		stored.push(r.reading);
		last = r;
	}
	const main = last?.main as MainProcess;
	let firstOpen: number[];
	let again: number[];
	let lists: number[];
	try {
		// Old sessions spread over the history; each read here for the first time by this process.
		const ids = Array.from({ length: REPLAYS }, (_, i) => storedId(Math.floor((i * SESSIONS) / REPLAYS)));
		firstOpen = await firstEvents(main.base, ids);
		again = await firstEvents(main.base, ids);
		lists = await listings(main.base);
	} finally {
		await main.stop();
		last?.dirs.cleanup();
	}
	type Figure = Exclude<keyof StartReading, "milestones">;
	const med = (xs: StartReading[], k: Figure) => median(xs.map((x) => x[k]));
	const added = (k: Figure) => med(stored, k) - med(empty, k);
	const f = summarize(firstOpen);
	const a = summarize(again);
	const l = summarize(lists);
	const cache = dropped
		? "page cache dropped before each start"
		: "page cache NOT dropped (writing /proc/sys/vm/drop_caches was refused)";
	const startRow = (id: string, k: Figure, figure: string, unit: string, goal: string, limit: number) => ({
		id,
		figure,
		baseline: { label: "empty state directory", value: round(med(empty, k)), unit },
		measured: { value: round(med(stored, k)), unit },
		comparison: { kind: "added" as const, value: round(added(k)) },
		goal,
		met: added(k) <= limit,
		detail: {
			empty: empty.map((x) => round(x[k] as number)),
			stored: stored.map((x) => round(x[k] as number)),
			...(k === "healthz" ? { stored_milestones_ms: stored.map((x) => x.milestones) } : {}),
		},
	});
	const history = `${SESSIONS} × ${EVENTS.toLocaleString("en")} stored`;
	return {
		notes: [
			`History (issue 13): ${RUNS} starts of \`bun src/main.ts\` alternated between an empty state directory and ${history} ended sessions (${note}; sessions linked into a fresh STATE_DIR, the engine's home new each time), ${cache}. RSS is the sidecar's VmRSS and descriptors its /proc/<pid>/fd entries, ${SETTLE_MS / 1000} s after \`/ready\`. Then, on the last start with history: a reconnect with Last-Event-ID ${EVENTS / 2} to ${REPLAYS} old sessions spread over the history (first open, then again), and ${LISTS} \`GET /sessions\`.`,
		],
		rows: [
			startRow(
				"history.start.healthz",
				"healthz",
				`history: process start → \`/healthz\` 200, ${history} (median of ${RUNS})`,
				"ms",
				"≤ empty + 100 ms",
				100,
			),
			startRow(
				"history.start.ready",
				"ready",
				`history: process start → \`/ready\` 200, ${history} (median of ${RUNS})`,
				"ms",
				"≤ empty + 100 ms",
				100,
			),
			startRow("history.rss", "rssMb", `history: sidecar RSS after \`/ready\`, ${history}`, "MB", "≤ empty + 5 MB", 5),
			startRow(
				"history.fds",
				"fds",
				`history: sidecar open descriptors after \`/ready\`, ${history}`,
				"fds",
				"≤ empty + 20",
				20,
			),
			{
				id: "history.replay.first_open.p99",
				figure: `history: reconnect to an old session with Last-Event-ID in the middle → first event, its first open (p99 of ${REPLAYS} sessions)`,
				measured: { value: round(f.p99), unit: "ms" },
				goal: "p99 ≤ 20 ms",
				met: f.p99 <= 20,
				detail: { ms: roundAll(f) },
			},
			{
				id: "history.replay.again.p99",
				figure: `history: the same reconnects again (p99 of ${REPLAYS})`,
				measured: { value: round(a.p99), unit: "ms" },
				goal: "p99 ≤ 20 ms",
				met: a.p99 <= 20,
				detail: { ms: roundAll(a) },
			},
			{
				id: "history.list.p99",
				figure: `history: \`GET /sessions\` with ${SESSIONS} stored (p99 of ${LISTS})`,
				measured: { value: round(l.p99), unit: "ms" },
				goal: "p99 ≤ 50 ms",
				met: l.p99 <= 50,
				detail: { ms: roundAll(l) },
			},
		],
	};
}
