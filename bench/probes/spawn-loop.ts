/**
 * The minimal case behind the growth row (issue 13): a bare Bun process
 * running `git --version` N times with `node:child_process.execFile` (as the
 * workspace tracker did) or with `Bun.spawn` (as it does now), printing its
 * RSS and JS heap after a full collection at call 20 and every 200 calls.
 *
 *   node_modules/.bin/bun bench/probes/spawn-loop.ts execFile|spawn [calls=1400]
 */

import { heapStats } from "bun:jsc";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);
const mode = process.argv[2] ?? "execFile";
if (mode !== "execFile" && mode !== "spawn") throw new Error("mode: execFile or spawn");
const calls = Number(process.argv[3] ?? 1400);
const MB = (n: number) => (n / 1048576).toFixed(1);

for (let i = 1; i <= calls; i++) {
	if (mode === "execFile") await run("git", ["--version"], { encoding: "utf8", maxBuffer: 1 << 30 });
	else {
		const p = Bun.spawn(["git", "--version"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
		await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
	}
	if (i !== 20 && i % 200 !== 0) continue;
	Bun.gc(true);
	const h = heapStats();
	console.log(
		`${mode} #${i}: RSS ${MB(process.memoryUsage().rss)} MB, JS heap ${MB(h.heapSize)} MB, objects ${h.objectCount}`,
	);
}
