/**
 * Not a row: the cost of verifying event MACs on replay (issue 19), in one process, the same log read
 * with and without verification, alternating, so both see the same load and page cache.
 *
 *   node_modules/.bin/bun bench/probes/replay-mac.ts [events=20000] [rounds=15]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLog } from "../../src/events/log";
import { FrameMac, frameKey, storedDataKeys } from "../../src/security/stored-mac";

const events = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 15);
const dir = mkdtempSync(join(tmpdir(), "replay-mac-"));
const mac = new FrameMac(frameKey(storedDataKeys("probe").events, "s"));
const path = join(dir, "events.log");
const { log } = EventLog.open(path, { mac });
const T = "2026-01-01T00:00:00.000Z";
for (let i = 0; i < events; i++) {
	const text = `token ${i} `.repeat(1 + (i % 40));
	log.append({ event: "output", data: { type: "stdout", text, source: "assistant", timestamp: T } });
}
log.seal();
await log.settled();

async function replay(checkMacs: boolean): Promise<{ ms: number; bytes: number }> {
	const stored = EventLog.stored(path, { lastId: events, atRest: true }, { mac, checkMacs });
	const start = performance.now();
	let cursor = 0;
	let bytes = 0;
	while (cursor < events) {
		const read = await stored.readFrames(cursor, 1024 * 1024);
		if (read.unverified !== undefined) throw new Error(`unverified ${read.unverified}`);
		bytes += read.bytes.byteLength;
		cursor = read.lastId;
	}
	return { ms: performance.now() - start, bytes };
}

const times = { plain: [] as number[], verified: [] as number[] };
let size = 0;
for (let r = 0; r < rounds; r++) {
	const a = await replay(false);
	const b = await replay(true);
	times.plain.push(a.ms);
	times.verified.push(b.ms);
	size = a.bytes;
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
const mbps = (ms: number) => size / 1e6 / (ms / 1000);
const p = median(times.plain);
const v = median(times.verified);
console.log(
	JSON.stringify({
		events,
		bytes: size,
		plain_ms: +p.toFixed(1),
		verified_ms: +v.toFixed(1),
		plain_MBps: +mbps(p).toFixed(0),
		verified_MBps: +mbps(v).toFixed(0),
		ratio: +(v / p).toFixed(2),
		per_event_us: +(((v - p) * 1000) / events).toFixed(2),
	}),
);
rmSync(dir, { recursive: true, force: true });
