/**
 * How long reading every stored session's record takes on a cold page cache (as at a pod's
 * start): one after the other, all at once with `readFile`, and read ahead first
 * (src/lib/readahead.ts, what the store does). Root: drops the page cache before each way.
 *
 *   node_modules/.bin/bun bench/probes/read-records.ts <sessions dir> [rounds=2]
 *
 * e.g. the history row's state: /tmp/opencode-sidecar-bench-history/500x10000/sessions
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readAhead } from "../../src/lib/readahead";

const arg = process.argv[2];
if (!arg) throw new Error("usage: read-records.ts <sessions dir> [rounds]");
const root: string = arg;
const rounds = Number(process.argv[3] ?? 2);
const paths = readdirSync(root).map((id) => join(root, id, "session.json"));

async function time(name: string, read: () => unknown): Promise<void> {
	writeFileSync("/proc/sys/vm/drop_caches", "3");
	readdirSync(root);
	const started = performance.now();
	await read();
	console.log(`${name}: ${(performance.now() - started).toFixed(1)} ms`);
}

console.log(`${paths.length} records`);
for (let r = 0; r < rounds; r++) {
	await time("one after the other", () => {
		for (const p of paths) JSON.parse(readFileSync(p, "utf8"));
	});
	await time("readFile all at once", async () => {
		for (const text of await Promise.all(paths.map((p) => readFile(p, "utf8")))) JSON.parse(text);
	});
	await time("read ahead, then one after the other", () => {
		readAhead(paths);
		for (const p of paths) JSON.parse(readFileSync(p, "utf8"));
	});
}
