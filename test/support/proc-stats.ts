import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Readings of a process from /proc (Linux): resident memory, open file
 * descriptors and TCP sockets, to count what a test leaves behind.
 */
export type Pid = number | "self";

/** VmRSS of the process, in KiB. */
export function vmRssKb(pid: Pid): number {
	const status = readFileSync(`/proc/${pid}/status`, "utf8");
	const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
	if (!m) throw new Error(`no VmRSS for ${pid}`);
	return Number(m[1]);
}

/** VmHWM of the process (its peak resident memory so far), in KiB. */
export function vmHwmKb(pid: Pid): number {
	const status = readFileSync(`/proc/${pid}/status`, "utf8");
	const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
	if (!m) throw new Error(`no VmHWM for ${pid}`);
	return Number(m[1]);
}

/** What each open descriptor points at (`socket:[123]`, `pipe:[4]`, a path, ...). */
export function fdTargets(pid: Pid): string[] {
	const dir = `/proc/${pid}/fd`;
	const out: string[] = [];
	for (const fd of readdirSync(dir)) {
		try {
			out.push(readlinkSync(`${dir}/${fd}`));
		} catch {
			// Closed between the listing and the read (e.g. the listing's own descriptor).
		}
	}
	return out;
}

export interface TcpSocket {
	readonly localPort: number;
	readonly remotePort: number;
	/** Kernel state code: 0A is LISTEN, 01 ESTABLISHED, 06 TIME_WAIT, 08 CLOSE_WAIT. */
	readonly state: string;
	readonly inode: number;
}

/** Every TCP socket of the network namespace (IPv4 and IPv6). */
export function tcpSockets(): TcpSocket[] {
	const out: TcpSocket[] = [];
	for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
		let text: string;
		try {
			text = readFileSync(file, "utf8");
		} catch {
			continue;
		}
		for (const line of text.split("\n").slice(1)) {
			const f = line.trim().split(/\s+/);
			if (f.length < 10) continue;
			const port = (addr: string) => Number.parseInt(addr.split(":")[1] ?? "0", 16);
			out.push({
				localPort: port(f[1] ?? ""),
				remotePort: port(f[2] ?? ""),
				state: f[3] ?? "",
				inode: Number(f[9]),
			});
		}
	}
	return out;
}

const socketInode = (target: string): number | undefined => {
	const m = /^socket:\[(\d+)\]$/.exec(target);
	return m ? Number(m[1]) : undefined;
};

/** The process listening on `port` on this host (found through its socket's inode). */
export function pidListeningOn(port: number): number {
	const listener = tcpSockets().find((s) => s.localPort === port && s.state === "0A");
	if (!listener) throw new Error(`nothing listens on port ${port}`);
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		let targets: string[];
		try {
			targets = fdTargets(Number(entry));
		} catch {
			continue;
		}
		if (targets.some((t) => socketInode(t) === listener.inode)) return Number(entry);
	}
	throw new Error(`no process owns the listener on port ${port}`);
}

/**
 * Open descriptors of `pid` that are TCP connections (not listeners) with
 * one end on one of `ports`: the server side of accepted connections and
 * the client side of connections to them.
 */
export function connectionsOnPorts(pid: Pid, ports: readonly number[]): number {
	const byInode = new Map(tcpSockets().map((s) => [s.inode, s]));
	let n = 0;
	for (const t of fdTargets(pid)) {
		const inode = socketInode(t);
		const s = inode === undefined ? undefined : byInode.get(inode);
		if (!s || s.state === "0A") continue;
		if (ports.includes(s.localPort) || ports.includes(s.remotePort)) n++;
	}
	return n;
}

/**
 * Open descriptors grouped by kind: `tcp:<port>` for connections touching a
 * port in `watchPorts`, `tcp:other`, `file:<dir>` for paths under a watched
 * directory, and `socket`, `pipe`, `anon`, `file`, `other` for the rest.
 */
export function fdSummary(
	pid: Pid,
	watch: { ports?: readonly number[]; dirs?: readonly string[] } = {},
): Record<string, number> {
	const byInode = new Map(tcpSockets().map((s) => [s.inode, s]));
	const out: Record<string, number> = {};
	const add = (k: string) => {
		out[k] = (out[k] ?? 0) + 1;
	};
	for (const t of fdTargets(pid)) {
		const inode = socketInode(t);
		if (inode !== undefined) {
			const s = byInode.get(inode);
			if (!s) add("socket");
			else if (s.state === "0A") add("tcp:listen");
			else {
				const p = (watch.ports ?? []).find((p) => p === s.localPort || p === s.remotePort);
				add(p === undefined ? "tcp:other" : `tcp:${p}`);
			}
		} else if (t.startsWith("pipe:")) add("pipe");
		else if (t.startsWith("anon_inode:")) add("anon");
		else if (t.startsWith("/")) {
			const d = (watch.dirs ?? []).find((d) => t.startsWith(`${d}/`));
			add(d === undefined ? "file" : `file:${d}`);
		} else add("other");
	}
	return out;
}

/** Every process below `pid` (children, grandchildren, ...). */
export function descendants(pid: number): number[] {
	const out: number[] = [];
	const visit = (p: number) => {
		let children: number[] = [];
		try {
			for (const task of readdirSync(`/proc/${p}/task`)) {
				const text = readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim();
				if (text) children.push(...text.split(/\s+/).map(Number));
			}
		} catch {
			children = [];
		}
		for (const c of children) {
			out.push(c);
			visit(c);
		}
	};
	visit(pid);
	return out;
}

/** TCP ports `pid` listens on. */
export function listeningPorts(pid: Pid): number[] {
	const mine = new Set(
		fdTargets(pid)
			.map(socketInode)
			.filter((i) => i !== undefined),
	);
	return tcpSockets()
		.filter((s) => s.state === "0A" && mine.has(s.inode))
		.map((s) => s.localPort);
}
