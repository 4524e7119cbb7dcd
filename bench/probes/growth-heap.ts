/**
 * Where the growth row's memory goes: runs sessions back to back on one
 * sidecar host as `rows/growth.ts` does and, at each mark, takes a full
 * collection and JavaScriptCore's heap statistics in the sidecar, then
 * prints RSS against the JS heap and the object types whose counts grew.
 *
 *   node_modules/.bin/bun bench/probes/growth-heap.ts [sessions=200] [maxStored=500] [snapshotDir]
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { startScriptedLlm } from "../../test/support/scripted-llm";
import { makeTempDirs } from "../../test/support/workspace";
import { createSession, waitEnded } from "../lib/api";
import { cpuSecondsOf, MB, memoryOf } from "../lib/proc";
import type { HeapReading } from "../lib/protocol";
import { startSidecarHost } from "../lib/sidecar-host";

/** RSS of `pid` by kind of mapping (anonymous, the heap, each file), in bytes. */
function rssByMapping(pid: number): Map<string, number> {
	const out = new Map<string, number>();
	let name = "";
	for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
		const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
		if (head) {
			// Anonymous mappings by permissions: rwx is JavaScriptCore's JIT code.
			name = head[2] || `[anon ${head[1]}]`;
			continue;
		}
		const rss = /^Rss:\s+(\d+) kB/.exec(line);
		if (rss) out.set(name, (out.get(name) ?? 0) + Number(rss[1]) * 1024);
	}
	return out;
}

const sessions = Number(process.argv[2] ?? 200);
const maxStored = process.argv[3] ?? "500";
const snapshots = process.argv[4];
const settleMs = Number(process.env.SETTLE_MS ?? 0);
const marks = process.env.MARKS ? process.env.MARKS.split(",").map(Number) : [20, Math.round(sessions / 2), sessions];

/** Creates run `i`; while the engine restarts (503), waits for /ready and tries again. */
async function createRetrying(i: number) {
	for (let attempt = 0; ; attempt++) {
		try {
			return await createSession(host.base, llm, [{ kind: "text", text: `Run ${i} is done.` }]);
		} catch (error) {
			if (attempt > 100 || !String(error).includes("503")) throw error;
			console.log(`#${i}: 503, waiting for /ready`);
			while ((await fetch(`${host.base}/ready`)).status !== 200) await Bun.sleep(500);
		}
	}
}

const llm = await startScriptedLlm();
const dirs = makeTempDirs("bench-growth-heap-");
// ENGINE_RSS_SOFT_LIMIT / ENGINE_RSS_HARD_LIMIT pass through (an engine recycle mid-series is a confounder), and
// JavaScriptCore's options (BUN_JSC_*, e.g. BUN_JSC_useFTLJIT=0 to see what the optimizing JIT adds) and
// mimalloc's (MIMALLOC_*).
const limits = Object.fromEntries(
	Object.entries(process.env).filter(
		(e): e is [string, string] =>
			e[1] !== undefined && ["ENGINE_RSS_", "BUN_JSC_", "MIMALLOC_"].some((p) => e[0].startsWith(p)),
	),
);
const host = await startSidecarHost(dirs, { MAX_STORED_SESSIONS: maxStored, ...limits });
const readings = new Map<number, HeapReading & { vmRss: number; maps: Map<string, number> }>();
console.log(`load average ${loadavg()[0]?.toFixed(2)}; ${sessions} sessions, MAX_STORED_SESSIONS=${maxStored}`);
try {
	for (let i = 1; i <= sessions; i++) {
		const s = await createRetrying(i);
		await waitEnded(host.base, s.id);
		if (!marks.includes(i)) continue;
		const h = await host.child.request<"heap">(
			{ op: "heap", ...(snapshots ? { snapshot: join(snapshots, `heap-${i}.json`) } : {}) },
			120_000,
		);
		let vmRss = memoryOf(host.child.pid).rss;
		let maps = rssByMapping(host.child.pid);
		if (settleMs > 0) {
			// What the allocators give back on their own once idle (libpas's scavenger, mimalloc's purge).
			const atOnce = vmRss;
			await Bun.sleep(settleMs);
			vmRss = memoryOf(host.child.pid).rss;
			maps = rssByMapping(host.child.pid);
			console.log(`#${i}: VmRSS right after the collection ${(atOnce / MB).toFixed(2)} MB, after ${settleMs} ms idle:`);
		}
		readings.set(i, { ...h, vmRss, maps });
		const file = [...maps].filter(([k]) => k.startsWith("/")).reduce((a, [, v]) => a + v, 0);
		const f = (n: number) => (n / MB).toFixed(2);
		console.log(
			`#${i}: VmRSS ${f(vmRss)} MB, cpu ${cpuSecondsOf(host.child.pid).toFixed(2)} s, heapSize ${f(h.heapSize)} MB, heapCapacity ${f(h.heapCapacity)} MB, mimalloc ${f(h.mimallocCommit)} MB, anon rw ${f(maps.get("[anon rw-p]") ?? 0)} MB, anon rwx ${f(maps.get("[anon rwxp]") ?? 0)} MB, file ${f(file)} MB, extra ${f(h.extraMemorySize)} MB, objects ${h.objectCount}, protected ${h.protectedObjectCount}, arrayBuffers ${f(h.memoryUsage.arrayBuffers)} MB, external ${f(h.memoryUsage.external)} MB`,
		);
	}
} finally {
	await host.stop();
	dirs.cleanup();
	await llm.close();
}
const first = readings.get(marks[0] as number);
const last = readings.get(sessions);
if (first && last) {
	const types = new Set([...Object.keys(first.objectTypeCounts), ...Object.keys(last.objectTypeCounts)]);
	const grew = [...types]
		.map((t) => ({ t, a: first.objectTypeCounts[t] ?? 0, b: last.objectTypeCounts[t] ?? 0 }))
		.filter((x) => x.b !== x.a)
		.sort((x, y) => y.b - y.a - (x.b - x.a));
	console.log(`RSS by mapping, session ${marks[0]} → ${sessions} (MB):`);
	const names = new Set([...first.maps.keys(), ...last.maps.keys()]);
	for (const m of [...names].sort((x, y) => (last.maps.get(y) ?? 0) - (last.maps.get(x) ?? 0)).slice(0, 8))
		console.log(`  ${m}: ${((first.maps.get(m) ?? 0) / MB).toFixed(2)} → ${((last.maps.get(m) ?? 0) / MB).toFixed(2)}`);
	console.log(`object types that changed, session ${marks[0]} → ${sessions}:`);
	for (const x of grew.slice(0, 40))
		console.log(`  ${x.t}: ${x.a} → ${x.b} (${x.b - x.a >= 0 ? "+" : ""}${x.b - x.a})`);
}
process.exit(0);
