/**
 * Measures how long the engine watchdog takes to replace a frozen (SIGSTOP) engine with the default limits
 * (ENGINE_HEALTH_INTERVAL 5 s, ENGINE_HEALTH_TIMEOUT 3 s, ENGINE_HEALTH_FAILURES 3), and until the new engine is
 * ready. Run: node_modules/.bin/bun scripts/measure-watchdog.ts
 */
import { nextLoss, nextReady } from "../test/support/engine-watch";
import { startInProcess } from "../test/support/in-process";
import { makeTempDirs } from "../test/support/workspace";

const dirs = makeTempDirs();
const it = await startInProcess({
	WORKSPACE_DIR: dirs.workspace,
	STATE_DIR: dirs.state,
	LOG_LEVEL: process.env.LOG_LEVEL ?? "error",
});
await it.sidecar.engine.whenWarm();
const pid = it.sidecar.engine.pid;
if (pid === undefined) throw new Error("no engine");
const lost = nextLoss(it.sidecar);
const ready = nextReady(it.sidecar);
const frozenAt = Date.now();
process.kill(pid, "SIGSTOP");
const reason = await lost;
const replacedMs = Date.now() - frozenAt;
await ready;
console.log(JSON.stringify({ reason, frozen_to_replaced_ms: replacedMs, frozen_to_ready_ms: Date.now() - frozenAt }));
if (process.env.LOG_LEVEL) {
	for (const l of it.logLines) {
		const { time, msg, component } = JSON.parse(l) as Record<string, unknown>;
		console.log(time, component, msg);
	}
}
await it.sidecar.stop();
dirs.cleanup();
process.exit(0);
