/**
 * Process hardening, applied first thing at start (src/main.ts), before any
 * secret is read. The agent's tools run as our uid; a process of the same uid
 * may read another's `/proc/<pid>/mem` and `environ` and ptrace it, unless
 * that process is not "dumpable" (or the node's Yama `ptrace_scope` forbids
 * it, which many nodes do not). So the sidecar, which holds every session's
 * API key and the shared secret, marks itself non-dumpable
 * (`prctl(PR_SET_DUMPABLE, 0)`) and writes no core file (`RLIMIT_CORE` 0).
 * The flag is kept across threads and reset by `execve`: the engine and the
 * agent's tools, which the sidecar spawns, stay dumpable and hold no key.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { chmodSync, statSync } from "node:fs";

/** What hardening achieved; a problem is said in words (log, /ready, metrics). */
export interface Hardening {
	/** False once `/proc/<pid>/mem`, `environ` and ptrace are closed to other processes of our uid. */
	readonly dumpable: boolean;
	/** Why the process could not be hardened; undefined when it was. */
	readonly problem: string | undefined;
}

/** The two C calls hardening needs; injected in tests to exercise the failure path. */
export interface ProcessControls {
	/** `prctl(option, arg2, 0, 0, 0)`: 0 or more on success, -1 on failure. */
	prctl(option: number, arg2: number): number;
	/** `setrlimit(RLIMIT_CORE, {0, 0})`: 0 on success, -1 on failure. */
	disableCoreDumps(): number;
}

const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;
const RLIMIT_CORE = 4;

/** The real calls, through glibc (Linux only; anything else throws, which hardening reports). */
export function libcControls(): ProcessControls {
	// bun:ffi rather than a native addon: two calls, no build step, nothing to install.
	const libc = dlopen("libc.so.6", {
		prctl: {
			args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64],
			returns: FFIType.i32,
		},
		setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
	});
	return {
		prctl: (option, arg2) => libc.symbols.prctl(option, arg2, 0, 0, 0),
		disableCoreDumps: () => {
			const limit = new BigUint64Array([0n, 0n]); // struct rlimit { rlim_cur, rlim_max }
			return libc.symbols.setrlimit(RLIMIT_CORE, ptr(limit));
		},
	};
}

/**
 * Marks the process non-dumpable and turns core dumps off; never throws.
 * `controls` is a function so that loading libc itself may fail and be reported.
 */
export function hardenProcess(controls: () => ProcessControls = libcControls): Hardening {
	let c: ProcessControls;
	try {
		c = controls();
	} catch (error) {
		return { dumpable: true, problem: `prctl is not available: ${error instanceof Error ? error.message : error}` };
	}
	const problems: string[] = [];
	let dumpable = true;
	try {
		if (c.prctl(PR_SET_DUMPABLE, 0) !== 0) problems.push("prctl(PR_SET_DUMPABLE, 0) failed");
		dumpable = c.prctl(PR_GET_DUMPABLE, 0) !== 0;
		if (dumpable && problems.length === 0) problems.push("prctl(PR_GET_DUMPABLE) still reports the process dumpable");
	} catch (error) {
		problems.push(`prctl failed: ${error instanceof Error ? error.message : error}`);
	}
	try {
		if (c.disableCoreDumps() !== 0) problems.push("setrlimit(RLIMIT_CORE, 0) failed");
	} catch (error) {
		problems.push(`setrlimit failed: ${error instanceof Error ? error.message : error}`);
	}
	return { dumpable, problem: problems.length > 0 ? problems.join("; ") : undefined };
}

/**
 * STATE_DIR is the sidecar's alone (0700): a volume directory made by an init container is usually 0755. Returns
 * why it could not be made so (a directory owned by someone else), or undefined.
 */
export function restrictDirectory(path: string): string | undefined {
	try {
		if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o700);
		return undefined;
	} catch (error) {
		return `${path} could not be made 0700: ${error instanceof Error ? error.message : error}`;
	}
}
