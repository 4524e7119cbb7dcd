/**
 * The attack: what an injected agent runs from its own `bash` tool. It reads
 * what it can of the processes around it (its ancestors up to the sidecar,
 * and every descendant of the sidecar but itself): `/proc/<pid>/environ`,
 * `cmdline` and every readable region of `mem` that holds anything (the same access check as
 * ptrace), counting each secret in ASCII and UTF-16LE. Secrets arrive in
 * pieces so that no command line, prompt or engine record holds one whole.
 *
 *   bun proc-scan.ts <out.json> <sidecar pid> <name> <piece> <piece> [<name> <piece> <piece>]...
 *
 * Writes `{ processes: [{pid, comm, environ, cmdline, mem, bytes, errors}] }`
 * with per-secret counts (never the secrets) to out.json. Only the
 * processes of this tree are looked at (the machine is shared).
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from "node:fs";

const [out, rootArg, ...rest] = process.argv.slice(2);
if (!out || !rootArg) throw new Error("usage: proc-scan.ts <out.json> <sidecar pid> <name> <piece> <piece>...");
const root = Number(rootArg);
const secrets: { name: string; value: string }[] = [];
for (let i = 0; i + 2 < rest.length; i += 3) {
	secrets.push({ name: rest[i] as string, value: `${rest[i + 1]}${rest[i + 2]}` });
}
const needles = secrets.flatMap((s) => [
	{ name: s.name, bytes: Buffer.from(s.value, "latin1") },
	{ name: s.name, bytes: Buffer.from(s.value, "utf16le") },
]);
const longest = Math.max(...needles.map((n) => n.bytes.length));

type Counts = Record<string, number>;
const zero = (): Counts => Object.fromEntries(secrets.map((s) => [s.name, 0]));

/** Counts the needles in `buf` that end after `seen` (bytes before it were searched already). */
function count(buf: Buffer, into: Counts, seen = 0): void {
	for (const n of needles) {
		let at = buf.indexOf(n.bytes);
		while (at !== -1) {
			if (at + n.bytes.length > seen) into[n.name] = (into[n.name] ?? 0) + 1;
			at = buf.indexOf(n.bytes, at + 1);
		}
	}
}

const ppidOf = (pid: number): number | undefined => {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
	} catch {
		return undefined;
	}
};

function childrenOf(pid: number): number[] {
	const kids: number[] = [];
	try {
		for (const tid of readdirSync(`/proc/${pid}/task`)) {
			const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
			if (text) kids.push(...text.split(" ").map(Number));
		}
	} catch {
		// Gone.
	}
	return kids;
}

// The tree: ancestors from here up to the sidecar (only when the sidecar is one of them: never the
// processes above it), and the sidecar's descendants.
const pids = new Set<number>();
const chain: number[] = [];
for (let p = ppidOf(process.pid); p !== undefined && p > 1; p = ppidOf(p)) {
	chain.push(p);
	if (p === root) break;
}
if (chain.at(-1) === root) for (const p of chain) pids.add(p);
const queue = [root];
while (queue.length > 0) {
	const p = queue.shift() as number;
	if (pids.has(p) && p !== root) continue;
	pids.add(p);
	queue.push(...childrenOf(p));
}
pids.delete(process.pid);

const CHUNK = 4 * 1024 * 1024;

/** Readable regions worth reading: an anonymous region with nothing resident or swapped holds only zeros. */
function regions(pid: number): { start: number; end: number }[] {
	const out: { start: number; end: number }[] = [];
	let current: { start: number; end: number; file: boolean; used: number } | undefined;
	const flush = () => {
		if (current && (current.file || current.used > 0)) out.push({ start: current.start, end: current.end });
		current = undefined;
	};
	for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
		const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
		if (head) {
			flush();
			const [, from, to, perms, path = ""] = head;
			if (!perms?.startsWith("r") || ["[vvar]", "[vsyscall]", "[vvar_vclock]"].includes(path)) continue;
			current = {
				start: Number.parseInt(from as string, 16),
				end: Number.parseInt(to as string, 16),
				file: path.startsWith("/"),
				used: 0,
			};
			continue;
		}
		const field = /^(Rss|Swap):\s+(\d+) kB/.exec(line);
		if (field && current) current.used += Number(field[2]);
	}
	flush();
	return out;
}

function scanMemory(pid: number, counts: Counts, errors: string[]): number {
	let maps: { start: number; end: number }[];
	try {
		maps = regions(pid);
	} catch (error) {
		errors.push(`maps: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
		return 0;
	}
	let fd: number;
	try {
		fd = openSync(`/proc/${pid}/mem`, "r");
	} catch (error) {
		errors.push(`mem: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
		return 0;
	}
	let total = 0;
	const buf = Buffer.alloc(CHUNK + longest);
	try {
		for (const { start, end } of maps) {
			let carry = 0;
			for (let at = start; at < end; at += CHUNK) {
				const len = Math.min(CHUNK, end - at);
				let n = 0;
				try {
					n = readSync(fd, buf, carry, len, at);
				} catch {
					break; // an unreadable region (e.g. a guard page)
				}
				total += n;
				const view = buf.subarray(0, carry + n);
				count(view, counts, carry);
				// Keep the tail so a secret across two chunks is found (and counted once).
				carry = Math.min(longest - 1, view.length);
				view.copy(buf, 0, view.length - carry);
				if (n < len) break;
			}
		}
	} finally {
		closeSync(fd);
	}
	return total;
}

const processes = [...pids].map((pid) => {
	const errors: string[] = [];
	const environ = zero();
	const cmdline = zero();
	const mem = zero();
	let comm = "?";
	try {
		comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
	} catch {
		// Gone.
	}
	for (const [file, into] of [
		["environ", environ],
		["cmdline", cmdline],
	] as const) {
		try {
			count(readFileSync(`/proc/${pid}/${file}`), into);
		} catch (error) {
			errors.push(`${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
		}
	}
	const bytes = scanMemory(pid, mem, errors);
	return { pid, comm, environ, cmdline, mem, bytes, errors };
});

writeFileSync(out, JSON.stringify({ processes }, null, 1));
const found = processes.flatMap((p) =>
	(["environ", "cmdline", "mem"] as const).flatMap((where) =>
		Object.entries(p[where])
			.filter(([, n]) => n > 0)
			.map(([name, n]) => `${p.comm}(${p.pid}) ${where}: ${name} x${n}`),
	),
);
console.log(`scanned ${processes.length} processes; ${found.length === 0 ? "nothing found" : found.join("; ")}`);
