/** A workspace git call that takes longer is given up (a scan then reports what it has). */
export const GIT_TIMEOUT_MS = 120_000;

/** How a git call is run (see `runGit`). */
export interface GitRunOptions {
	/** Working directory; default the process's. */
	readonly cwd?: string;
	/** Environment; default the process's. */
	readonly env?: Record<string, string | undefined>;
	/**
	 * Killed (SIGKILL) after this many ms; the call then fails. Bun.spawn's own timer (the real clock, not the
	 * injected one): a safety limit on a child process that no test drives in virtual time.
	 */
	readonly timeoutMs: number;
	/** Written to git's standard input (default: none). */
	readonly stdin?: string;
	/** Killed (SIGKILL) once its output passes this many bytes (checked as it is read); default 1 GiB. */
	readonly maxBuffer?: number;
}

/** A git call that did not exit 0 (or was killed: timeout, too much output). */
export class GitFailed extends Error {
	constructor(
		readonly command: string,
		readonly exitCode: number | null,
		readonly signal: NodeJS.Signals | number | null,
		stderr: string,
	) {
		super(`git ${command} ${signal ? `killed by ${signal}` : `exited ${exitCode}`}: ${stderr.trim().slice(0, 500)}`);
		this.name = "GitFailed";
	}
}

/**
 * Runs `git args…` and resolves with its stdout (UTF-8). With `Bun.spawn`, not
 * `node:child_process.execFile`: a run makes about five git calls (the
 * workspace snapshot before and after it), and in Bun 1.4 `execFile` raises
 * the process's RSS by ~10 MB over its first few hundred calls and keeps it
 * there, where `Bun.spawn` stays within ~1 MB (bench/probes/spawn-loop.ts):
 * most of the sidecar's RSS growth over 200 runs (issue 13).
 */
export async function runGit(args: readonly string[], options: GitRunOptions): Promise<string> {
	const proc = Bun.spawn(["git", ...args], {
		...(options.cwd === undefined ? {} : { cwd: options.cwd }),
		...(options.env === undefined ? {} : { env: options.env }),
		// A pipe, written below: a Blob would be a memfd that stays open until the process object is collected.
		stdin: options.stdin === undefined ? "ignore" : "pipe",
		stdout: "pipe",
		stderr: "pipe",
		timeout: options.timeoutMs,
		maxBuffer: options.maxBuffer ?? 1 << 30,
		killSignal: "SIGKILL",
	});
	if (options.stdin !== undefined && proc.stdin) {
		const sink = proc.stdin;
		// A git that exits before reading it all (an error) closes the pipe: its exit code says why.
		Promise.resolve()
			.then(() => {
				sink.write(options.stdin as string);
				return sink.end();
			})
			.catch(() => undefined);
	}
	const stdout = new Response(proc.stdout).text();
	const stderr = new Response(proc.stderr).text();
	const exitCode = await proc.exited;
	if (exitCode !== 0 || proc.signalCode) {
		// Killed (timeout, maxBuffer): a process git started may still hold the pipes open; do not wait for them.
		const why = proc.signalCode ? "" : await stderr.catch(() => "");
		stdout.catch(() => undefined);
		stderr.catch(() => undefined);
		throw new GitFailed(args[0] ?? "", exitCode, proc.signalCode ?? null, why);
	}
	return stdout;
}
