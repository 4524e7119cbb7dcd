import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { EventFeed } from "../../src/engine/feed";
import { systemClock } from "../../src/lib/clock";
import { sessionBody } from "../support/api";
import { watchStored } from "../support/engine-watch";
import { type Instrumented, startInstrumented } from "../support/instrumented-sidecar";
import { type ScriptedLlm, startScriptedLlm } from "../support/scripted-llm";
import { makeTempDirs, type TempDirs } from "../support/workspace";
import { waitFor } from "./helpers";

// Nothing wakes up for nothing: at rest the sidecar holds no repeating timer (the log sync, the memory
// watch and the event-loop histogram run only while a run is in progress), and the watchdog does not call
// the engine while the engine's own heartbeat (`server.heartbeat` every 10 s on /event) shows it is alive.
// A check interval above the heartbeat's period, so any health check here would be one too many
// (before: one every 11 s). test/faults/engine-watchdog.test.ts proves a frozen engine is still found.

let llm: ScriptedLlm;
let dirs: TempDirs;
let it: Instrumented;

beforeAll(async () => {
	llm = await startScriptedLlm();
	dirs = makeTempDirs("sidecar-at-rest-");
	it = await startInstrumented({
		WORKSPACE_DIR: dirs.workspace,
		STATE_DIR: dirs.state,
		ENGINE_HEALTH_INTERVAL: "11",
		ENGINE_HEALTH_TIMEOUT: "2",
		ENGINE_HEALTH_FAILURES: "2",
	});
	await it.sidecar.engine.whenWarm();
});

afterAll(async () => {
	await it?.stop();
	await llm?.close();
	dirs?.cleanup();
});

const intervals = () => it.clock.describeTimers().filter((t) => t.startsWith("interval"));

/** Resolves once the engine's own /event stream has been read `n` times (its heartbeats, at rest). */
async function engineReads(n: number): Promise<void> {
	const c = it.sidecar.engine.connection();
	if (!c) throw new Error("the engine is not listening");
	let reads = 0;
	const adapter = it.sidecar.engine.adapter;
	const feed = new EventFeed({
		url: adapter.feedUrl(c.url, dirs.workspace),
		parse: adapter.feedReader(dirs.workspace),
		authorization: c.authorization,
		idleLimitMs: 60_000,
		retryMs: 100,
		clock: systemClock,
		onRead: () => reads++,
	});
	const reading = (async () => {
		for await (const _ of feed);
	})();
	try {
		await waitFor(() => reads >= n, `${n} reads of the engine's event stream`, 60_000, 100);
	} finally {
		feed.close();
		await reading;
	}
}

describe("at rest", () => {
	test("the sidecar holds no repeating timer, and the watchdog sends no health check while heartbeats arrive", async () => {
		await waitFor(() => it.sidecar.sessions.runningCount === 0, "no run in progress");
		const checks = it.sidecar.engine.healthChecks;
		// `server.connected`, then three heartbeats: 20 s or more of rest, where a fixed schedule checks at least once.
		const started = Date.now();
		await engineReads(4);
		expect(Date.now() - started).toBeGreaterThan(11_000);
		expect(it.sidecar.engine.healthChecks).toBe(checks);
		expect(intervals()).toEqual([]);
		expect(it.sidecar.engine.ready).toBe(true);
	});

	test("a run holds the log sync while it runs, and lets it go when it ends", async () => {
		let release: () => void = () => {};
		const held = new Promise<void>((r) => {
			release = r;
		});
		const body = sessionBody({ model_config: { api_endpoint: llm.url } });
		llm.script(body.model_config.api_key, [
			{ kind: "text", text: "one two three four", chunks: 4, hold: { afterDeltas: 2, until: held } },
		]);
		const res = await it.handle("/sessions", {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify(body),
		});
		expect(res.status).toBe(201);
		const stored = await watchStored(it.sidecar.sessions.get(body.session_id));
		await stored.until((all) => all.some((e) => e.event === "output"), "first output");
		expect(intervals().some((t) => t.startsWith("interval 1000 ms"))).toBe(true);
		release();
		await stored.until((all) => all.at(-1)?.event === "complete", "run end");
		stored.stop();
		await waitFor(() => intervals().length === 0, "no repeating timer after the run");
	});
});
