import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { EngineEvent } from "../../src/engine/events";
import { isObject, str } from "../../src/engine/events";
import type { StoredEvent } from "../../src/events/catalogue";
import { sessionBody } from "../support/api";
import { type EngineWatch, type StoredWatch, watchEngine, watchStored } from "../support/engine-watch";
import { type InProcess, startInProcess } from "../support/in-process";
import { Prng, runSeed } from "../support/prng";
import { type Hold, type ScriptedLlm, startScriptedLlm, type Turn } from "../support/scripted-llm";
import { findSecrets } from "../support/secrets";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";
import { makeTempDirs, type TempDirs } from "../support/workspace";
import { waitFor } from "./helpers";

// The sidecar reads the engine's /event through a proxy the test controls. The same scripted run (text and a
// `write`, a `bash` that waits on a FIFO the test opens, a final text) is run once uncut, then with the feed cut
// (or stalled without closing) at fixed points and at seeded random points; each time the stored log must equal
// the uncut one as API_CONTRACT.md defines it ("What the same log means"), with dense ids and a completed run.

const FINAL = "The file notes/a.txt is written and the gate has opened, so the work is complete.";
/** A silent feed is reconnected after this long; above the engine's 10 s heartbeat so only a stall trips it. */
const IDLE_LIMIT_S = "15";

let llm: ScriptedLlm;
let dirs: TempDirs;
let it: InProcess;
let proxy: TcpProxy;
let engine: EngineWatch;
const keys: string[] = [];

beforeAll(async () => {
	llm = await startScriptedLlm();
	dirs = makeTempDirs();
	proxy = await startTcpProxy();
	it = await startInProcess(
		{ WORKSPACE_DIR: dirs.workspace, STATE_DIR: dirs.state, ENGINE_EVENT_IDLE_TIMEOUT: IDLE_LIMIT_S },
		{
			engineFeedUrl: (url) => {
				const u = new URL(url);
				proxy.target = { host: u.hostname, port: Number(u.port) };
				u.port = String(proxy.port);
				return u.toString();
			},
		},
	);
	await it.sidecar.engine.whenWarm();
	engine = await watchEngine(it.sidecar, dirs.workspace);
});

afterAll(async () => {
	engine?.close();
	await it?.sidecar.stop();
	await proxy?.close();
	await llm?.close();
	const found = findSecrets(keys, { texts: { logs: it.logLines.join("\n") }, dirs: [dirs.state, dirs.workspace] });
	dirs.cleanup();
	expect(found).toEqual([]);
});

interface Holds {
	first?: Hold;
	second?: Hold;
	final?: Hold;
}

function turns(h: Holds): Turn[] {
	const hold = (x: Hold | undefined) => (x ? { hold: x } : {});
	return [
		{
			kind: "tool",
			text: "I will write the file first.",
			calls: [{ name: "write", args: { filePath: "notes/a.txt", content: "alpha\n" } }],
			...hold(h.first),
		},
		{
			kind: "tool",
			calls: [{ name: "bash", args: { command: "cat gate.fifo && echo done", description: "Wait for the gate" } }],
			...hold(h.second),
		},
		{ kind: "text", text: FINAL, chunks: 12, ...hold(h.final) },
	];
}

/** A hold and the function that releases it. */
function gate(afterDeltas: number): { hold: Hold; release: () => void } {
	let release: () => void = () => {};
	const until = new Promise<void>((r) => {
		release = r;
	});
	return { hold: { afterDeltas, until }, release };
}

interface Run {
	readonly key: string;
	readonly id: string;
	readonly stored: StoredWatch;
	engineId(): string;
	/** Lets the bash tool's `cat gate.fifo` finish. */
	openGate(): void;
	/** The n-th LLM request of this run (1-based) has arrived. */
	request(n: number): Promise<void>;
	/** The engine (seen directly, not through the proxy) did something matching. */
	engineDid(pred: (e: EngineEvent) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

const bashRunning = (run: Run) => (e: EngineEvent) =>
	e.type === "message.part.updated" &&
	isObject(e.properties.part) &&
	e.properties.part.sessionID === run.engineId() &&
	e.properties.part.tool === "bash" &&
	isObject(e.properties.part.state) &&
	e.properties.part.state.status === "running";
const idle = (run: Run) => (e: EngineEvent) => e.type === "session.idle" && e.properties.sessionID === run.engineId();

/** Starts one run of the script; `drive` makes the faults; resolves with its stored log once it ended. */
async function runScript(holds: Holds, drive: (run: Run) => Promise<void>): Promise<StoredEvent[]> {
	Bun.spawnSync(["mkfifo", join(dirs.workspace, "gate.fifo")]);
	const body = sessionBody({ model_config: { api_endpoint: llm.url } });
	const key = body.model_config.api_key;
	keys.push(key);
	llm.script(key, turns(holds));
	const res = await it.handle("/sessions", {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify(body),
	});
	expect(res.status).toBe(201);
	const session = it.sidecar.sessions.get(body.session_id);
	const stored = await watchStored(session);
	let opened = false;
	const run: Run = {
		key,
		id: body.session_id,
		stored,
		engineId: () => session.record.engine_session_id ?? "(none yet)",
		openGate() {
			if (opened) return;
			opened = true;
			Bun.spawn(["sh", "-c", "echo go > gate.fifo"], { cwd: dirs.workspace });
		},
		async request(n) {
			await llm.waitForRequest(
				(r) => r.key === key && llm.requests.filter((x) => x.key === key).indexOf(r) === n - 1,
				120_000,
			);
		},
		engineDid: (pred, what, timeoutMs) => engine.until(pred, what, timeoutMs),
	};
	try {
		await drive(run);
		await stored.until((all) => all.at(-1)?.event === "complete" || all.at(-1)?.event === "error", "the run's end");
		return [...stored.events];
	} finally {
		proxy.up();
		stored.stop();
		rmSync(join(dirs.workspace, "gate.fifo"), { force: true });
		rmSync(join(dirs.workspace, "notes"), { recursive: true, force: true });
	}
}

/** The log as API_CONTRACT.md compares it: outputs of one stream joined, call ids by order, no ids, times or usage. */
function normalized(events: readonly StoredEvent[]): unknown[] {
	const calls = new Map<string, string>();
	const call = (id: unknown) => {
		const s = String(id);
		if (!calls.has(s)) calls.set(s, `call-${calls.size + 1}`);
		return calls.get(s);
	};
	const out: { event: string; data: Record<string, unknown> }[] = [];
	for (const e of events) {
		const { timestamp: _t, usage: _u, ...data } = e.data as Record<string, unknown>;
		if (data.call_id !== undefined) data.call_id = call(data.call_id);
		const last = out.at(-1);
		if (e.event === "output" && last?.event === "output") {
			const a = last.data;
			if (a.type === data.type && a.source === data.source && a.call_id === data.call_id) {
				a.text = `${a.text}${data.text}`;
				continue;
			}
		}
		out.push({ event: e.event, data });
	}
	return out;
}

function expectSameRun(actual: StoredEvent[], expected: StoredEvent[], label: string): void {
	expect(
		actual.map((e) => e.id),
		`${label}: dense ids`,
	).toEqual(actual.map((_, i) => i + 1));
	expect(normalized(actual), label).toEqual(normalized(expected));
}

let uncut: StoredEvent[] = [];

describe("the engine's event feed cut or stalled during a run", () => {
	test("the uncut run (the reference)", async () => {
		uncut = await runScript({}, async (run) => {
			await run.engineDid(bashRunning(run), "bash running");
			run.openGate();
		});
		expect(uncut.at(-1)).toMatchObject({
			event: "complete",
			data: { final_message: FINAL, files_modified: ["notes/a.txt"] },
		});
		expect(uncut.filter((e) => e.event === "tool_call").map((e) => e.data.tool)).toEqual(["write", "bash"]);
		expect(uncut.filter((e) => e.event === "tool_result").map((e) => e.data.is_error)).toEqual([false, false]);
	});

	test("cut before a tool call: the call, its result and the text around it are recovered", async () => {
		const first = gate(0);
		const final = gate(0);
		const events = await runScript({ first: first.hold, final: final.hold }, async (run) => {
			await run.request(1);
			proxy.down();
			first.release();
			await run.engineDid(bashRunning(run), "bash running (feed down)");
			run.openGate();
			await run.request(3);
			expect(run.stored.events.some((e) => e.event === "tool_call")).toBe(false);
			proxy.up();
			await run.stored.until((all) => all.filter((e) => e.event === "tool_result").length === 2, "results recovered");
			final.release();
		});
		expectSameRun(events, uncut, "cut before a tool call");
	});

	test("cut between a tool call and its result", async () => {
		const final = gate(0);
		const events = await runScript({ final: final.hold }, async (run) => {
			await run.stored.until((all) => all.some((e) => e.event === "tool_call" && e.data.tool === "bash"), "bash call");
			proxy.down();
			run.openGate();
			await run.request(3);
			expect(run.stored.events.filter((e) => e.event === "tool_result")).toHaveLength(1);
			proxy.up();
			await run.stored.until((all) => all.filter((e) => e.event === "tool_result").length === 2, "result recovered");
			final.release();
		});
		expectSameRun(events, uncut, "cut between call and result");
	});

	test("cut just before the turn ends: the end the feed missed completes the run", async () => {
		const final = gate(1000);
		const events = await runScript({ final: final.hold }, async (run) => {
			await run.engineDid(bashRunning(run), "bash running");
			run.openGate();
			await run.stored.until((all) => assistantText(all).endsWith(FINAL), "final text stored");
			proxy.down();
			final.release();
			await run.engineDid(idle(run), "engine idle (feed down)");
			expect(run.stored.events.at(-1)?.event).not.toBe("complete");
			proxy.up();
		});
		expectSameRun(events, uncut, "cut before the end");
	});

	test("cut during the final text", async () => {
		const final = gate(5);
		const events = await runScript({ final: final.hold }, async (run) => {
			await run.engineDid(bashRunning(run), "bash running");
			run.openGate();
			await run.stored.until((all) => assistantText(all).includes("The file"), "final text begun");
			proxy.down();
			final.release();
			await run.engineDid(idle(run), "engine idle (feed down)");
			proxy.up();
		});
		expectSameRun(events, uncut, "cut during the final text");
	});

	test("cut as a run starts: the launch waits for the feed instead of reporting the engine gone", async () => {
		const engine = it.sidecar.engine;
		const create = engine.createSession.bind(engine);
		// The real engine call, then the feed drops before the launch's next call (the prompt).
		engine.createSession = async (title, settings) => {
			const id = await create(title, settings);
			proxy.down();
			await waitFor(() => !engine.ready, "the sidecar sees its feed lost");
			proxy.up();
			return id;
		};
		try {
			const events = await runScript({}, async (run) => {
				await run.engineDid(bashRunning(run), "bash running");
				run.openGate();
			});
			expectSameRun(events, uncut, "cut as the run starts");
		} finally {
			engine.createSession = create;
		}
	});

	test("a cancel while the feed is down stops the agent in the engine once the feed is back", async () => {
		const engine = it.sidecar.engine;
		const events = await runScript({}, async (run) => {
			// The bash tool waits on the gate, which nobody opens: only an abort ends it.
			await run.engineDid(bashRunning(run), "bash running");
			proxy.down();
			await waitFor(() => !engine.ready, "the sidecar sees its feed lost");
			const res = await it.handle(`/sessions/${run.id}`, { method: "DELETE" });
			expect(res.status).toBe(200);
			proxy.up();
			await run.engineDid(idle(run), "the engine aborted the run", 60_000);
		});
		expect(events.at(-1)).toMatchObject({ event: "error", data: { code: "cancelled" } });
	});

	test("stalled without closing (no FIN): the inactivity limit reconnects and nothing is lost", async () => {
		const first = gate(0);
		const final = gate(0);
		const events = await runScript({ first: first.hold, final: final.hold }, async (run) => {
			await run.request(1);
			const connections = proxy.accepted;
			proxy.stall();
			first.release();
			await run.engineDid(bashRunning(run), "bash running (feed stalled)");
			run.openGate();
			await run.request(3);
			await proxy.waitForConnections(connections + 1);
			await run.stored.until((all) => all.filter((e) => e.event === "tool_result").length === 2, "results recovered");
			final.release();
		});
		expectSameRun(events, uncut, "stall");
		expect(it.logLines.some((l) => l.includes(`no byte from the engine for ${Number(IDLE_LIMIT_S) * 1000} ms`))).toBe(
			true,
		);
	});

	test("seeded random cut points", async () => {
		const seed = runSeed();
		console.log(`engine feed cuts: seed ${seed} (FAULT_SEED=${seed} replays the choice of points)`);
		const rng = new Prng(seed);
		for (let round = 0; round < 3; round++) {
			const at = 2 + rng.int(uncut.length - 3);
			const more = rng.int(12);
			const events = await runScript({}, async (run) => {
				void run.engineDid(bashRunning(run), "bash running").then(() => run.openGate());
				await run.stored.until((all) => all.length >= at, `event ${at} stored`);
				proxy.down();
				const mine = () => engine.events.filter((e) => JSON.stringify(e).includes(run.engineId())).length;
				const target = mine() + more;
				await run.engineDid((e) => mine() >= target || idle(run)(e), `${more} more engine events`);
				proxy.up();
			});
			expectSameRun(
				events,
				uncut,
				`seed ${seed}, round ${round}: cut after event ${at}, up after ${more} engine events`,
			);
		}
	});
});

function assistantText(events: readonly StoredEvent[]): string {
	return events
		.filter((e) => e.event === "output" && e.data.source === "assistant")
		.map((e) => str((e.data as Record<string, unknown>).text) ?? "")
		.join("");
}
