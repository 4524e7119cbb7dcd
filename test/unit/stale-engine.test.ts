import { afterAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killStaleEngine } from "../../src/engine/stale-engine";
import { createLogger } from "../../src/lib/log";
import { ManualClock } from "../support/manual-clock";

const dir = mkdtempSync(join(tmpdir(), "stale-engine-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger("error");

/**
 * A process of this test named as an engine would be (`opencode serve`), or as something else, and
 * running under that name (it echoed a line back); its pid in a file.
 */
async function leftBehind(argv0: string) {
	const child = Bun.spawn(["cat"], { argv0, stdin: "pipe", stdout: "pipe", stderr: "ignore" });
	child.stdin.write("up\n");
	await child.stdin.flush();
	await (child.stdout as ReadableStream<Uint8Array>).getReader().read();
	const pidFile = join(dir, `${child.pid}.pid`);
	writeFileSync(pidFile, String(child.pid));
	return { child, pidFile };
}

describe("killStaleEngine", () => {
	it("kills an engine left behind and waits for it to be gone on the injected clock", async () => {
		const { child, pidFile } = await leftBehind("opencode serve");
		const clock = new ManualClock();
		let finished = false;
		const done = killStaleEngine(pidFile, log, clock).then(() => {
			finished = true;
		});
		// Killed, not reaped yet: the next look is 20 ms away on the clock.
		expect(clock.pendingTimers).toBe(1);
		await child.exited;
		expect(child.signalCode).toBe("SIGKILL");
		expect(finished).toBe(false);
		clock.advance(20);
		await done;
		expect(clock.pendingTimers).toBe(0);
	});

	it("leaves a process that is not an engine alone", async () => {
		const { child, pidFile } = await leftBehind("cat");
		await killStaleEngine(pidFile, log, new ManualClock());
		expect(child.killed).toBe(false);
		child.kill();
		await child.exited;
	});
});
