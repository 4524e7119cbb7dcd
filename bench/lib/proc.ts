import { readFileSync } from "node:fs";

/** Linux's USER_HZ: /proc times are in 1/100 s on every platform we run on. */
const TICKS_PER_SECOND = 100;

/**
 * A process's memory as the kernel counts it (/proc/<pid>/status), in bytes;
 * `anon`: the part of `rss` that is its own (heap, allocator, JIT), without
 * the pages of its executable and libraries.
 */
export function memoryOf(pid: number): { rss: number; peak: number; anon: number } {
	const status = readFileSync(`/proc/${pid}/status`, "utf8");
	const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
	return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024, anon: kb("RssAnon") * 1024 };
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSecondsOf(pid: number): number {
	const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
	// The command name may hold spaces; fields are counted after its closing parenthesis.
	const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
	return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export const MB = 1024 * 1024;

/** The machine's CPU time so far (all cores, from /proc/stat): busy and total, in clock ticks. */
export function machineTicks(): { busy: number; total: number } {
	const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
	const [, ...fields] = line.trim().split(/\s+/);
	const ticks = fields.map(Number);
	const total = ticks.reduce((a, b) => a + b, 0);
	// idle and iowait
	const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
	return { busy: total - idle, total };
}
