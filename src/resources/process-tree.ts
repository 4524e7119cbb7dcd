import { readdirSync, readFileSync } from "node:fs";

/**
 * The descendants of `pid` (children, their children…), from
 * /proc/<pid>/task/<tid>/children: every thread's list, since a child belongs
 * to the thread that forked it. Processes gone meanwhile are skipped.
 * Hand-written: a few /proc reads; ps-tree and the like spawn `ps`.
 */
export function descendants(pid: number, proc = "/proc"): number[] {
	const out: number[] = [];
	const seen = new Set<number>([pid]);
	const queue = [pid];
	while (queue.length > 0) {
		const parent = queue.shift() as number;
		let tasks: string[];
		try {
			tasks = readdirSync(`${proc}/${parent}/task`);
		} catch {
			continue;
		}
		for (const tid of tasks) {
			let text: string;
			try {
				text = readFileSync(`${proc}/${parent}/task/${tid}/children`, "utf8");
			} catch {
				continue;
			}
			for (const c of text.split(" ")) {
				const child = Number(c);
				if (!c || !Number.isInteger(child) || seen.has(child)) continue;
				seen.add(child);
				out.push(child);
				queue.push(child);
			}
		}
	}
	return out;
}

/**
 * A process's memory in bytes: its proportional set size (shared pages split
 * among their users, so a tree's figures add up) from smaps_rollup, else its
 * resident size; 0 when it is gone.
 */
export function processMemory(pid: number, proc = "/proc"): number {
	try {
		const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`${proc}/${pid}/smaps_rollup`, "utf8"));
		if (m) return Number(m[1]) * 1024;
	} catch {
		// No smaps_rollup (older kernels, another user's process): the resident size.
	}
	try {
		const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`${proc}/${pid}/status`, "utf8"));
		return m ? Number(m[1]) * 1024 : 0;
	} catch {
		return 0;
	}
}

/** The memory of a set of processes, summed, and how many there were. */
export function treeMemory(pids: readonly number[], proc = "/proc"): { bytes: number; processes: number } {
	let bytes = 0;
	for (const pid of pids) bytes += processMemory(pid, proc);
	return { bytes, processes: pids.length };
}
