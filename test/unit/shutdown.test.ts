import { describe, expect, it } from "bun:test";
import { createLogger } from "../../src/lib/log";
import { shutdownOnSignal } from "../../src/shutdown";
import { ManualClock } from "../support/manual-clock";

const DELAY_MS = 5_000;
const TIMEOUT_MS = 30_000;

/** The shutdown sequence on a manual clock, recording the steps it takes; `stop` settles when the test says. */
function sequence() {
	const clock = new ManualClock();
	const steps: string[] = [];
	let finishStop!: () => void;
	const shutdown = shutdownOnSignal({
		clock,
		log: createLogger("info", {
			write: (line: string) => void steps.push(`log ${(JSON.parse(line) as { msg: string }).msg}`),
		}),
		delayMs: DELAY_MS,
		timeoutMs: TIMEOUT_MS,
		drain: () => void steps.push("drain"),
		stop: () => {
			steps.push("stop");
			return new Promise<void>((resolve) => {
				finishStop = resolve;
			});
		},
		exit: (code) => void steps.push(`exit ${code}`),
	});
	/** Lets the sequence run up to its next wait. */
	const settle = async () => {
		for (let i = 0; i < 5; i++) await Promise.resolve();
	};
	return { clock, steps, shutdown, settle, finishStop: () => finishStop() };
}

describe("shutdown on SIGTERM", () => {
	it("drains at once, stops after SHUTDOWN_DELAY on the injected clock, then exits 0 with no timer left", async () => {
		const s = sequence();
		const done = s.shutdown("SIGTERM");
		expect(s.steps).toEqual(["log shutting down: not ready", "drain"]);
		s.clock.advance(DELAY_MS - 1);
		await s.settle();
		expect(s.steps).not.toContain("stop");
		s.clock.advance(1);
		await s.settle();
		expect(s.steps.at(-1)).toBe("stop");
		s.finishStop();
		await done;
		expect(s.steps).toEqual(["log shutting down: not ready", "drain", "stop", "log stopped", "exit 0"]);
		expect(s.clock.pendingTimers).toBe(0);
	});

	it("exits 1 at SHUTDOWN_TIMEOUT on the injected clock when stopping does not finish", async () => {
		const s = sequence();
		void s.shutdown("SIGTERM");
		s.clock.advance(DELAY_MS);
		await s.settle();
		s.clock.advance(TIMEOUT_MS - DELAY_MS - 1);
		expect(s.steps).not.toContain("exit 1");
		s.clock.advance(1);
		expect(s.steps.slice(-2)).toEqual(["log shutdown did not finish within SHUTDOWN_TIMEOUT; exiting", "exit 1"]);
	});

	it("ignores a second signal while shutting down", async () => {
		const s = sequence();
		const first = s.shutdown("SIGTERM");
		await s.shutdown("SIGINT");
		s.clock.advance(DELAY_MS);
		await s.settle();
		s.finishStop();
		await first;
		expect(s.steps.filter((x) => x === "drain" || x.startsWith("exit"))).toEqual(["drain", "exit 0"]);
	});
});
