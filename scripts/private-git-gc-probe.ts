// Measures a collection of the private snapshot repository (issue 13): N sessions of one run each on a
// small non-repository workspace, all but KEEP forgotten, then `collect()`; how long a begin waits behind one.
// Usage: node_modules/.bin/bun scripts/private-git-gc-probe.ts [N=1000] [KEEP=500] [FILES=200]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Collected, WorkspaceTracker } from "../src/workspace/tracker";

const [n = 1000, keep = 500, files = 200] = process.argv.slice(2).map(Number);
const root = mkdtempSync(join(tmpdir(), "gc-probe-ws-"));
const state = mkdtempSync(join(tmpdir(), "gc-probe-state-"));
for (let i = 0; i < files; i++) {
	mkdirSync(join(root, `d${i % 10}`), { recursive: true });
	writeFileSync(join(root, `d${i % 10}/f${i}.txt`), `file ${i}\n`.repeat(20));
}
const collected: Collected[] = [];
const tracker = new WorkspaceTracker(root, state, {
	startFile: (k) => join(state, `${k}.json`),
	onCollected: (c) => collected.push(c),
	onError: (e) => console.error(e),
});
let t = performance.now();
for (let i = 0; i < n; i++) {
	await tracker.begin(`s${i}`);
	writeFileSync(join(root, `d${i % 10}/f${i % files}.txt`), `run ${i}\n`.repeat(20));
	await tracker.end(`s${i}`);
}
const runsMs = performance.now() - t;
// A begin alone, then one asked for right after a collection started (it waits for it).
t = performance.now();
await tracker.begin("alone");
const aloneMs = performance.now() - t;
await tracker.end("alone");
for (let i = 0; i < n - keep; i++) tracker.forget(`s${i}`);
// The releases are queued: wait for them.
await (Reflect.get(tracker, "plainGit") as { count(): Promise<unknown> }).count();
t = performance.now();
const gc = tracker.collect();
await tracker.begin("behind");
const behindMs = performance.now() - t;
await gc;
await tracker.end("behind");
const c = collected[0];
const gitDir = join(state, "workspace-snapshots.git");
const du = Bun.spawnSync(["du", "-sk", gitDir]).stdout.toString().split("\t")[0];
console.log(
	JSON.stringify({
		sessions: n,
		kept: keep,
		files,
		runs_ms: Math.round(runsMs),
		collect: c,
		begin_alone_ms: Math.round(aloneMs),
		begin_behind_collection_ms: Math.round(behindMs),
		du_kib: Number(du),
	}),
);
rmSync(root, { recursive: true, force: true });
rmSync(state, { recursive: true, force: true });
