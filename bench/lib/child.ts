import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { now, within } from "./clock";
import type { Envelope, Hello, Reply, Request } from "./protocol";

export const REPO = resolve(import.meta.dir, "../..");
export const BUN = join(REPO, "node_modules/.bin/bun");

/** A bench child server (see bench/host/), driven over IPC. */
export interface Child {
	readonly hello: Hello;
	readonly pid: number;
	/** Last lines it printed, for error messages. */
	readonly output: string[];
	request<T extends Reply["op"]>(req: Request, timeoutMs?: number): Promise<Extract<Reply, { op: T }>>;
	/** Offset to add to a bench clock reading to get the child's clock. */
	clockOffset(): Promise<number>;
	/** Asks it to stop cleanly; SIGKILL (and its engine too) if it does not. */
	stop(): Promise<void>;
}

/** Starts `bench/host/<entry>.ts` with `env` and waits for its hello. */
export async function startChild(entry: string, env: Record<string, string>, startTimeoutMs = 60_000): Promise<Child> {
	const pending = new Map<number, (r: Reply) => void>();
	let seq = 0;
	let hello: ((h: Hello) => void) | undefined;
	const helloReceived = new Promise<Hello>((r) => {
		hello = r;
	});
	const output: string[] = [];
	// BENCH_PROFILE=<dir>: each child writes a CPU profile (and its markdown digest) there on exit.
	const profile = process.env.BENCH_PROFILE
		? [
				"--cpu-prof",
				"--cpu-prof-md",
				"--cpu-prof-interval=200",
				`--cpu-prof-dir=${process.env.BENCH_PROFILE}`,
				`--cpu-prof-name=${entry}-${Date.now()}.cpuprofile`,
			]
		: [];
	const proc = Bun.spawn([BUN, ...profile, join(REPO, "bench/host", `${entry}.ts`)], {
		cwd: REPO,
		env: {
			PATH: process.env.PATH ?? "/usr/bin:/bin",
			HOME: process.env.HOME ?? "/root",
			...env,
		},
		stdin: "ignore",
		stdout: "pipe",
		stderr: "pipe",
		serialization: "json",
		ipc(message: Envelope<Reply> | Hello) {
			if (message.op === "hello") hello?.(message as Hello);
			else {
				const m = message as Envelope<Reply>;
				pending.get(m.seq)?.(m);
				pending.delete(m.seq);
			}
		},
	});
	for (const stream of [proc.stdout, proc.stderr]) void keepTail(stream as ReadableStream<Uint8Array>, output);
	const died = proc.exited.then((code) => {
		throw new Error(`bench child ${entry} exited with ${code}:\n${output.slice(-20).join("\n")}`);
	});
	died.catch(() => {});
	let helloMsg: Hello;
	try {
		helloMsg = await within(Promise.race([helloReceived, died]), startTimeoutMs, `starting ${entry}`);
	} catch (error) {
		proc.kill("SIGKILL");
		throw error;
	}
	// Only if the host could not stop it: its engine, checked to still be an opencode process (not a reused pid).
	const engineGone = () => {
		const pid = helloMsg.engine?.pid;
		if (pid === undefined) return;
		try {
			if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("opencode")) process.kill(pid, "SIGKILL");
		} catch {
			// Already gone, as it should be.
		}
	};
	const request = async <T extends Reply["op"]>(
		req: Request,
		timeoutMs = 120_000,
	): Promise<Extract<Reply, { op: T }>> => {
		const id = ++seq;
		const answer = new Promise<Reply>((r) => pending.set(id, r));
		proc.send({ ...req, seq: id });
		const reply = await within(Promise.race([answer, died]), timeoutMs, `${entry} ${req.op}`);
		if (reply.op === "error") throw new Error(`${entry}: ${reply.message}`);
		return reply as Extract<Reply, { op: T }>;
	};
	return {
		hello: helloMsg,
		pid: proc.pid,
		output,
		request,
		async clockOffset() {
			// NTP-style: the child read its clock about halfway through the round trip; keep the tightest.
			let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
			for (let i = 0; i < 30; i++) {
				const t0 = now();
				const { at } = await request<"clock">({ op: "clock" });
				const t1 = now();
				if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: at - (t0 + t1) / 2 };
			}
			return best.offset;
		},
		async stop() {
			if (proc.exitCode !== null) return engineGone();
			try {
				await request({ op: "stop" }, 15_000);
			} catch {
				// Killed below.
			}
			const exited = await within(proc.exited, 15_000, `${entry} exit`).catch(() => undefined);
			if (exited === undefined) {
				proc.kill("SIGKILL");
				engineGone();
			}
		},
	};
}

async function keepTail(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
	const decoder = new TextDecoder();
	try {
		for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
			into.push(...decoder.decode(chunk, { stream: true }).split("\n"));
			if (into.length > 200) into.splice(0, into.length - 200);
		}
	} catch {
		// The child went away.
	}
}
