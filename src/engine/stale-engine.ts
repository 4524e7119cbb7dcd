import { readFileSync } from "node:fs";
import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import { pause } from "../lib/timeout";

/**
 * An engine left running by a previous sidecar process that was killed
 * (SIGKILL leaves children behind outside a container) would share the data
 * directory with the new one: stop it first. `pidFile` is where each engine's
 * pid is written when it starts.
 */
export async function killStaleEngine(pidFile: string, log: Logger, clock: Clock): Promise<void> {
	let pid: number;
	try {
		pid = Number(readFileSync(pidFile, "utf8").trim());
	} catch {
		return;
	}
	if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
	let cmdline = "";
	try {
		cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
	} catch {
		return; // not running
	}
	if (!cmdline.includes("opencode") || !cmdline.includes("serve")) return;
	log.warn({ pid }, "stopping an engine left behind by a previous sidecar process");
	try {
		process.kill(pid, "SIGKILL");
	} catch {
		return;
	}
	// Until it is gone (reaped), for at most 2 s on the clock.
	for (let i = 0; i < 100; i++) {
		try {
			readFileSync(`/proc/${pid}/cmdline`);
		} catch {
			return;
		}
		await pause(clock, 20);
	}
}
