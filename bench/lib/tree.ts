import { readdirSync, readFileSync } from "node:fs";
import { cpuSecondsOf } from "./proc";

/** One process of a tree, as /proc shows it. */
export interface TreeProcess {
	readonly pid: number;
	readonly comm: string;
}

/**
 * The process `root` and every descendant, depth first, from
 * /proc/<pid>/task/<tid>/children (every thread's list: a child belongs to
 * the thread that forked it). Processes gone meanwhile are left out.
 */
export function processTree(root: number): TreeProcess[] {
	const out: TreeProcess[] = [];
	const visit = (pid: number) => {
		let comm: string;
		try {
			comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
		} catch {
			return;
		}
		out.push({ pid, comm });
		let tasks: string[] = [];
		try {
			tasks = readdirSync(`/proc/${pid}/task`);
		} catch {
			return;
		}
		for (const tid of tasks) {
			let children = "";
			try {
				children = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8");
			} catch {
				continue;
			}
			for (const c of children.split(" ").filter(Boolean)) visit(Number(c));
		}
	};
	visit(root);
	return out;
}

/** Proportional set size of one process in bytes (/proc/<pid>/smaps_rollup): shared pages split among their users. */
export function pssOf(pid: number): number {
	try {
		const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
		return m ? Number(m[1]) * 1024 : 0;
	} catch {
		return 0;
	}
}

/** PSS of a whole tree in bytes, and each process's. */
export function treePss(root: number): { total: number; byProcess: { pid: number; comm: string; pss: number }[] } {
	const byProcess = processTree(root).map((p) => ({ ...p, pss: pssOf(p.pid) }));
	return { total: byProcess.reduce((a, p) => a + p.pss, 0), byProcess };
}

/** CPU seconds (user + system) used so far by every process of the tree that is still alive. */
export function treeCpuSeconds(root: number): number {
	let sum = 0;
	for (const p of processTree(root)) {
		try {
			sum += cpuSecondsOf(p.pid);
		} catch {
			// Gone meanwhile.
		}
	}
	return sum;
}

/** Context switches of every thread of a process so far: how often it woke up. */
export function wakeupsOf(pid: number): number {
	let sum = 0;
	let tasks: string[] = [];
	try {
		tasks = readdirSync(`/proc/${pid}/task`);
	} catch {
		return 0;
	}
	for (const tid of tasks) {
		try {
			const s = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
			sum += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
			sum += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
		} catch {
			// A thread gone meanwhile.
		}
	}
	return sum;
}
