/**
 * Clients misbehaving: a subscriber that stops reading, a thousand
 * connect/disconnect cycles at random points, and connections kept open after
 * a stream ends. Real engine and scripted LLM; two sidecars built in this
 * process (so their counters, timers and descriptors can be read): one with
 * room for bursts (256 KiB per subscriber), one with the smallest
 * STREAM_BUFFER_BYTES the configuration accepts. Replay a run with
 * FAULT_SEED=<seed>.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subscriber } from "../../src/events/channel";
import { SseParser } from "../../src/sse/parse";
import { sessionBody } from "../support/api";
import { type Instrumented, smallestStreamBuffer, startInstrumented } from "../support/instrumented-sidecar";
import { Prng, runSeed } from "../support/prng";
import { connectionsOnPorts, fdSummary, vmRssKb } from "../support/proc-stats";
import { getRequest, parseResponse, RawSseConnection } from "../support/raw-http";
import { type ScriptedLlm, startScriptedLlm, type Turn } from "../support/scripted-llm";
import { type Received, toReceived } from "../support/sse-client";
import { makeTempDirs, type TempDirs } from "../support/workspace";
import { asReceived, histogram, readSse, storedEvents, waitFor, withIds } from "./helpers";

const SEED = runSeed();
console.log(`clients seed ${SEED} (replay with FAULT_SEED=${SEED})`);

const REPO = resolve(import.meta.dir, "../..");
const BUN = join(REPO, "node_modules/.bin/bun");
const ROOMY_BUFFER = 256 * 1024;
const SMALLEST_BUFFER = smallestStreamBuffer();

let llm: ScriptedLlm;
const dirs: TempDirs[] = [];
/** Bursts fit: a subscriber that keeps reading is never too slow. */
let roomy: Instrumented;
/** The smallest STREAM_BUFFER_BYTES allowed: the slow-subscriber path is taken all the time. */
let tight: Instrumented;

async function start(bufferBytes: number, heartbeat: string): Promise<Instrumented> {
	const d = makeTempDirs("sidecar-clients-");
	dirs.push(d);
	const inst = await startInstrumented({
		WORKSPACE_DIR: d.workspace,
		STATE_DIR: d.state,
		STREAM_BUFFER_BYTES: String(bufferBytes),
		HEARTBEAT_INTERVAL: heartbeat,
		HTTP_IDLE_TIMEOUT: "2",
		MAX_CONCURRENT_SESSIONS: "10",
	});
	inst.listen();
	// The engine sets a project up on its first run; do it before anything is measured.
	const s = await createSession(inst, [{ kind: "text", text: "warm" }]);
	await readSse(await inst.handle(`/sessions/${s.id}/stream`));
	return inst;
}

async function createSession(inst: Instrumented, turns: Turn[]): Promise<{ id: string; key: string }> {
	const body = sessionBody({ model_config: { api_endpoint: llm.url } });
	llm.script(body.model_config.api_key, turns);
	const res = await inst.handle("/sessions", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
	});
	if (res.status !== 201) throw new Error(`session refused: ${res.status} ${await res.text()}`);
	return { id: body.session_id, key: body.model_config.api_key };
}

beforeAll(async () => {
	llm = await startScriptedLlm();
	[roomy, tight] = await Promise.all([start(ROOMY_BUFFER, "0.5"), start(SMALLEST_BUFFER, "0.2")]);
});

afterAll(async () => {
	await roomy?.stop();
	await tight?.stop();
	await llm?.close();
	for (const d of dirs) d.cleanup();
});

/**
 * `id:hash of event and data`: compares events without keeping their payloads
 * (a string built from a parsed field would keep the whole chunk it was cut from).
 */
const digest = (e: { id: number | undefined; event: string; data: unknown }) =>
	`${e.id}:${Bun.hash(`${e.event}|${JSON.stringify(e.data)}`).toString(36)}`;

/** A subscriber that reads as fast as it can, noting when each event arrived (payloads kept as digests only). */
class FastReader {
	readonly events: { id: number; digest: string }[] = [];
	readonly arrivals = new Map<number, number>();
	ended: "closed" | "error" | undefined;
	private waiters: { n: number; resolve: () => void }[] = [];
	readonly done: Promise<void>;

	constructor(
		readonly name: string,
		res: Promise<Response>,
	) {
		this.done = this.run(res);
	}

	get lastId(): number {
		return this.events.at(-1)?.id ?? 0;
	}

	/** Resolves once the reader has event `n` (or has ended). */
	reached(n: number): Promise<void> {
		if (this.lastId >= n || this.ended) return Promise.resolve();
		return new Promise((resolve) => this.waiters.push({ n, resolve }));
	}

	private wake(): void {
		const ready = this.waiters.filter((w) => this.lastId >= w.n || this.ended);
		this.waiters = this.waiters.filter((w) => !ready.includes(w));
		for (const w of ready) w.resolve();
	}

	private async run(res: Promise<Response>): Promise<void> {
		const body = (await res).body;
		if (!body) {
			this.ended = "closed";
			return;
		}
		const reader = body.getReader();
		const parser = new SseParser();
		const decoder = new TextDecoder();
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				const text = typeof value === "string" ? value : decoder.decode(value as Uint8Array, { stream: true });
				for (const e of parser.push(text)) {
					// Heartbeats carry no id line (a parser repeats the last id for them, as EventSource does).
					if (e.id === undefined || e.event === "heartbeat") continue;
					const r = toReceived(e);
					this.events.push({ id: r.id as number, digest: digest(r) });
					this.arrivals.set(r.id as number, performance.now());
				}
				this.wake();
			}
			this.ended = "closed";
		} catch {
			this.ended = "error";
		}
		this.wake();
	}
}

/** Sums the bytes fanned out to subscribers within one synchronous turn (one engine read), per turn. */
function burstMeter(inst: Instrumented, id: string): { largest: () => number; stop: () => void } {
	let current = 0;
	let largest = 0;
	let pending = false;
	const subscriber: Subscriber = {
		deliver(_id, frame) {
			current += frame.length;
			if (pending) return;
			pending = true;
			queueMicrotask(() => {
				largest = Math.max(largest, current);
				current = 0;
				pending = false;
			});
		},
	};
	const stop = inst.sidecar.sessions.get(id).channel.subscribe(subscriber);
	return { largest: () => largest, stop };
}

function spawnStuckClient(port: number, request: string) {
	const dir = mkdtempSync(join(tmpdir(), "stuck-client-"));
	const requestFile = join(dir, "request");
	const output = join(dir, "received");
	writeFileSync(requestFile, request);
	const proc = Bun.spawn([BUN, join(REPO, "test/support/stuck-client.ts"), String(port), requestFile, output], {
		stdin: "pipe",
		stdout: "pipe",
		stderr: "inherit",
	});
	const lines: string[] = [];
	let notify: (() => void) | undefined;
	void (async () => {
		const decoder = new TextDecoder();
		for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
			lines.push(...decoder.decode(chunk).split("\n").filter(Boolean));
			notify?.();
		}
	})();
	const line = (prefix: string) =>
		new Promise<string>((resolve) => {
			const check = () => {
				const l = lines.find((x) => x.startsWith(prefix));
				if (l) resolve(l);
			};
			notify = check;
			check();
		});
	return {
		sent: () => line("sent"),
		/** Reads what the server sent (until it closed), then exits; returns the bytes. */
		async readAll(): Promise<Buffer> {
			proc.stdin.write("read\n");
			proc.stdin.flush();
			await line("done");
			await proc.exited;
			const bytes = readFileSync(output);
			rmSync(dir, { recursive: true, force: true });
			return bytes;
		},
		kill: () => proc.kill(),
	};
}

/** Events with ids from a raw HTTP response (head, chunked body, SSE). */
function eventsOf(raw: Buffer): Received[] {
	const { response } = parseResponse(raw, { closed: true });
	if (!response) return [];
	return new SseParser()
		.push(response.body.toString("utf8"))
		.filter((e) => e.id !== undefined && e.event !== "heartbeat")
		.map(toReceived);
}

describe("a subscriber that stops reading", () => {
	test("is dropped without slowing the others or holding memory, and resumes losslessly with Last-Event-ID", async () => {
		const port = roomy.listen();
		const s = await createSession(roomy, [
			{ kind: "tool", calls: [{ name: "bash", args: { command: "seq 1 300", description: "numbers" } }] },
			{ kind: "hang" },
		]);
		const session = roomy.sidecar.sessions.get(s.id);
		// The engine has run the tool and is waiting on the (hanging) second call: its events are in.
		await waitFor(() => llm.requests.filter((r) => r.key === s.key).length >= 2, "the second LLM call", 30_000);

		const fast = [
			...[1, 2, 3].map((i) => new FastReader(`in-process ${i}`, roomy.handle(`/sessions/${s.id}/stream`))),
			...[1, 2].map((i) => new FastReader(`tcp ${i}`, fetch(`http://127.0.0.1:${port}/sessions/${s.id}/stream`))),
		];
		const startId = session.channel.lastId;
		await Promise.all(fast.map((r) => r.reached(startId)));

		// Connected live (Last-Event-ID: the newest id): it falls behind as soon as its socket is full.
		const stuck = spawnStuckClient(port, getRequest(`/sessions/${s.id}/stream`, { "Last-Event-ID": String(startId) }));
		await stuck.sent();
		await waitFor(() => session.channel.subscriberCount === fast.length + 1, "the stuck subscriber to subscribe");
		const slowBefore = roomy.sidecar.streams.closed.too_slow;

		Bun.gc(true);
		const heapBefore = process.memoryUsage().heapUsed;
		const rssBefore = vmRssKb("self");
		const published = new Map<number, number>();
		const count = 10_000;
		const text = "x".repeat(4000);
		// Paced by the fast readers: never more than 32 events (about 128 KiB) ahead of the slowest, half the room they have.
		const ahead = 32;
		let bytes = 0;
		for (let i = 0; i < count; i++) {
			if (i % 8 === 0) {
				const target = session.channel.lastId - ahead;
				await Promise.all(fast.map((r) => r.reached(target)));
			}
			const stored = session.emit({
				event: "output",
				data: { type: "stdout", text: `${i} ${text}`, source: "tool", timestamp: new Date().toISOString() },
			});
			published.set(stored.id, performance.now());
			bytes += text.length + 120;
		}
		// Behind and not reading: dropped once it has taken nothing for the stall time (two heartbeats, at least 5 s).
		await waitFor(
			() => roomy.sidecar.streams.closed.too_slow > slowBefore,
			"the stuck subscriber to be dropped",
			20_000,
		);
		const dropped = roomy.sidecar.streams.closed.too_slow - slowBefore;
		Bun.gc(true);
		const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
		const rssGrowthKb = vmRssKb("self") - rssBefore;

		// End the run: every fast reader gets the terminal event.
		const del = await roomy.handle(`/sessions/${s.id}`, { method: "DELETE" });
		expect(del.status).toBe(200);
		await Promise.all(fast.map((r) => r.done));
		const stored = asReceived(storedEvents(roomy.stateDir, s.id));
		let maxLag = 0;
		for (const r of fast)
			for (const [id, at] of r.arrivals) {
				const p = published.get(id);
				if (p !== undefined) maxLag = Math.max(maxLag, at - p);
			}

		// The stuck client reads what reached it, then resumes after its last complete event.
		const got = eventsOf(await stuck.readAll());
		const resumeFrom = got.at(-1)?.id ?? startId;
		const rest = await readSse(
			await roomy.handle(`/sessions/${s.id}/stream`, { headers: { "last-event-id": String(resumeFrom) } }),
		);
		const reconstructed = [...withIds(got), ...withIds(rest.events)];

		console.log(
			`slow subscriber: ${count} events (${(bytes / 1e6).toFixed(1)} MB) published with one client not reading; dropped as too slow: ${dropped}; ` +
				`fast readers: ${fast.map((r) => `${r.name} ${r.events.length} events, ${r.ended}`).join("; ")}; ` +
				`max lag ${maxLag.toFixed(0)} ms; heap growth ${(heapGrowth / 1e6).toFixed(1)} MB; RSS growth ${(rssGrowthKb / 1024).toFixed(1)} MB; ` +
				`the stuck client had ${got.length} events (to id ${resumeFrom}) and resumed for ${withIds(rest.events).length} more`,
		);
		expect(dropped).toBeGreaterThanOrEqual(1);
		for (const r of fast) {
			expect({ reader: r.name, ended: r.ended }).toEqual({ reader: r.name, ended: "closed" });
			expect(r.events.map((e) => e.digest)).toEqual(stored.map(digest));
		}
		expect(maxLag).toBeLessThan(2000);
		// If the stuck subscriber's frames were kept, 40 MB would still be held.
		expect(heapGrowth).toBeLessThan(24 * 1024 * 1024);
		expect(reconstructed).toEqual(stored.filter((e) => (e.id ?? 0) > startId));
		await waitFor(() => roomy.sidecar.streams.size === 0, "every stream to close");
		expect(session.channel.subscriberCount).toBe(0);
	});

	test(`at the smallest STREAM_BUFFER_BYTES (${SMALLEST_BUFFER}) a subscriber that keeps reading is not dropped during an engine run`, async () => {
		const s = await createSession(tight, [{ kind: "text", text: "word ".repeat(1500), chunks: 1500 }]);
		const meter = burstMeter(tight, s.id);
		const slowBefore = tight.sidecar.streams.closed.too_slow;
		const reader = new FastReader("in-process", tight.handle(`/sessions/${s.id}/stream`));
		await reader.done;
		meter.stop();
		const dropped = tight.sidecar.streams.closed.too_slow - slowBefore;
		console.log(
			`smallest buffer: a reader that keeps reading got ${reader.events.length} events before its stream ${reader.ended}; dropped as too slow: ${dropped}; largest burst fanned out in one turn: ${meter.largest()} bytes`,
		);
		expect({ ended: reader.ended, dropped }).toEqual({ ended: "closed", dropped: 0 });
		expect(reader.events.map((e) => e.digest)).toEqual(asReceived(storedEvents(tight.stateDir, s.id)).map(digest));
	});
});

type CutMode = "mid-request" | "after-request" | "after-head" | "after-events" | "mid-body" | "to-end";

describe("connect/disconnect cycles", () => {
	test("1,000 cycles at random points with Last-Event-ID rebuild the exact sequence and leave nothing behind", async () => {
		const prng = new Prng(SEED);
		const port = tight.listen();
		const summary = () => fdSummary("self", { ports: [port], dirs: [tight.stateDir] });
		// Quiescent: no run, no stream.
		await waitFor(() => tight.sidecar.sessions.runningCount === 0 && tight.sidecar.streams.size === 0, "quiescence");
		// Background work of the earlier tests ends meanwhile otherwise: an ended run's log closes its descriptor
		// after its last flush, and removed sessions' refs and a collection run git (a spawned child's stdin is a
		// memfd): counted before and gone after, each one looked like a descriptor lost (CI: file 3 → 2).
		await tight.sidecar.sessions.settled();
		const timersBefore = tight.clock.activeTimers;
		const timersListBefore = tight.clock.describeTimers();
		const fdsBefore = summary();

		const s = await createSession(tight, [
			{ kind: "tool", calls: [{ name: "bash", args: { command: "seq 1 200", description: "numbers" } }] },
			{ kind: "text", text: "step ".repeat(2000), chunks: 2000, delayMs: 3 },
		]);
		const session = tight.sidecar.sessions.get(s.id);
		const CHAINS = 4;
		const CYCLES = 1000;
		let cycles = 0;
		const modes: string[] = [];
		const statuses: string[] = [];
		let liveCycles = 0;
		let passes = 0;
		const problems: string[] = [];

		const chain = async (n: number) => {
			/** What this client has rebuilt: events 1..known.length. */
			const known: ReturnType<typeof withIds> = [];
			let last = 0;
			const merge = (events: Received[], from: number) => {
				let expected = from + 1;
				for (const e of withIds(events)) {
					if (e.id !== expected) {
						problems.push(`chain ${n}: got id ${e.id} after ${expected - 1} (resumed from ${from})`);
						return;
					}
					expected++;
					const i = (e.id as number) - 1;
					if (i < known.length) {
						if (JSON.stringify(known[i]) !== JSON.stringify(e))
							problems.push(`chain ${n}: event ${e.id} differs on replay`);
					} else known.push(e);
				}
				last = Math.max(last, expected - 1);
			};
			while (cycles < CYCLES) {
				cycles++;
				if (!session.ended) liveCycles++;
				// Usually resume where it stopped; sometimes from earlier (an overlap that must match).
				const from = last > 0 && prng.chance(0.1) ? prng.int(last) : last;
				const viaQuery = from > 0 && prng.chance(0.15);
				const path = `/sessions/${s.id}/stream${viaQuery ? `?last_event_id=${from}` : ""}`;
				const request = getRequest(path, from > 0 && !viaQuery ? { "Last-Event-ID": String(from) } : {});
				const mode = prng.weighted<CutMode>([
					[1, "mid-request"],
					[1, "after-request"],
					[1, "after-head"],
					[4, "after-events"],
					[2, "mid-body"],
					[1, "to-end"],
				]);
				modes.push(mode);
				if (mode === "mid-request") {
					const socket = connect(port, "127.0.0.1");
					socket.on("error", () => {});
					await new Promise<void>((r) => socket.on("connect", () => r()));
					socket.write(request.slice(0, 1 + prng.int(request.length - 2)));
					socket.destroy();
					continue;
				}
				const k = prng.range(1, 40);
				const cut = prng.range(1, 8192);
				const c = new RawSseConnection(port, request);
				if (mode === "after-request") await c.until((x) => x.requestSent);
				else if (mode === "after-head") await c.until((x) => x.status !== undefined);
				else if (mode === "after-events") await c.until((x) => x.events.filter((e) => e.id !== undefined).length >= k);
				else if (mode === "mid-body") await c.until((x) => x.bodyBytes >= cut);
				// To the end of the stream, or 300 events while the run is live.
				else await c.until((x) => x.phase === "closed" || x.events.length >= 300);
				c.destroy();
				statuses.push(String(c.status ?? "none"));
				if (c.status !== undefined && c.status !== 200 && c.status !== 204)
					problems.push(`chain ${n}: status ${c.status} resuming from ${from}`);
				merge(
					c.events.map((e) => toReceived(e)),
					from,
				);
				const end = known.at(-1);
				const complete =
					session.ended &&
					last === session.channel.lastId &&
					(end?.event === "complete" || (end?.event === "error" && end.data?.fatal === true));
				if (complete) {
					// A full pass rebuilt: check it, then start again from nothing.
					if (JSON.stringify(known) !== JSON.stringify(asReceived(storedEvents(tight.stateDir, s.id))))
						problems.push(`chain ${n}: a pass differs from the stored log`);
					passes++;
					known.length = 0;
					last = 0;
				}
			}
			// Finish the current pass.
			while (!(session.ended && last === session.channel.lastId)) {
				const c = new RawSseConnection(
					port,
					getRequest(`/sessions/${s.id}/stream`, last > 0 ? { "Last-Event-ID": String(last) } : {}),
				);
				await c.closed;
				merge(
					c.events.map((e) => toReceived(e)),
					last,
				);
			}
			return known;
		};
		const started = performance.now();
		const rebuilt = await Promise.all(Array.from({ length: CHAINS }, (_, i) => chain(i)));
		const seconds = (performance.now() - started) / 1000;
		const stored = asReceived(storedEvents(tight.stateDir, s.id));
		const replay = withIds((await readSse(await tight.handle(`/sessions/${s.id}/stream`))).events);

		// Nothing left behind: streams, subscriptions, timers, sockets, descriptors.
		await waitFor(() => tight.sidecar.streams.size === 0, "every stream to close", 15_000).catch(() => {});
		await waitFor(() => connectionsOnPorts("self", [port]) === 0, "every connection to close", 15_000).catch(() => {});
		await waitFor(() => tight.clock.activeTimers <= timersBefore, "timers to be released", 15_000).catch(() => {});
		const fdsAfter = summary();
		const subscribers = tight.sidecar.sessions.list().reduce((n, x) => n + x.channel.subscriberCount, 0);
		console.log(
			`cycles: ${cycles} in ${seconds.toFixed(1)} s (${liveCycles} while the run was live), ${passes} full passes rebuilt, ${stored.length} events; ` +
				`by cut: ${JSON.stringify(histogram(modes))}; by status: ${JSON.stringify(histogram(statuses))}; ` +
				`dropped as too slow: ${tight.sidecar.streams.closed.too_slow}\n` +
				`  after: open streams ${tight.sidecar.streams.size}, subscribers ${subscribers}, timers ${tight.clock.activeTimers} (before ${timersBefore}), ` +
				`connections on the port ${connectionsOnPorts("self", [port])}\n  timers before ${JSON.stringify(timersListBefore)}\n  timers after ${JSON.stringify(tight.clock.describeTimers())}\n  descriptors before ${JSON.stringify(fdsBefore)}\n  descriptors after  ${JSON.stringify(fdsAfter)}`,
		);
		expect(problems).toEqual([]);
		expect(cycles).toBeGreaterThanOrEqual(CYCLES);
		for (const r of rebuilt) expect(r).toEqual(stored);
		expect(replay).toEqual(stored);
		expect(tight.sidecar.streams.size).toBe(0);
		expect(subscribers).toBe(0);
		// Not more than before: a one-shot timer of earlier work still pending at the start (an engine call's
		// deadline, a provider call's idle timer) may end meanwhile; a leak adds timers. CI once saw 5 before
		// and 4 after; the log above lists both sets.
		expect(tight.clock.activeTimers).toBeLessThanOrEqual(timersBefore);
		expect(connectionsOnPorts("self", [port])).toBe(0);
		// Descriptors: the same, except connections among the engine, the gateway and the scripted LLM
		// (keep-alive pools that open and close on their own), and the new session's event log, which
		// stays open while the session is kept.
		const stable = (f: Record<string, number>) =>
			Object.fromEntries(Object.entries(f).filter(([k]) => k !== "tcp:other" && !k.startsWith("file:")));
		expect(stable(fdsAfter)).toEqual(stable(fdsBefore));
		const logs = (f: Record<string, number>) => Object.entries(f).find(([k]) => k.startsWith("file:"))?.[1] ?? 0;
		expect(logs(fdsAfter)).toBeLessThanOrEqual(logs(fdsBefore) + 1);
	});
});

describe("a client that keeps its connection after the stream", () => {
	test("is closed by HTTP_IDLE_TIMEOUT (2 s) once the stream has ended", async () => {
		const port = tight.listen();
		const s = await createSession(tight, [{ kind: "text", text: "short run" }]);
		await readSse(await tight.handle(`/sessions/${s.id}/stream`));
		// Keep-alive (no Connection: close): the stream ends with the run, the connection stays.
		const c = new RawSseConnection(port, `GET /sessions/${s.id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
		await c.until((x) => x.events.some((e) => e.event === "complete"));
		const ended = performance.now();
		const closed = await Promise.race([c.closed.then(() => true), Bun.sleep(10_000).then(() => false)]);
		const after = performance.now() - ended;
		c.destroy();
		console.log(
			`idle connection after a stream: ${closed ? `closed by the server after ${after.toFixed(0)} ms` : "still open after 10 s"}`,
		);
		expect(closed).toBe(true);
	});
});
