import { beforeAll, describe, expect, test } from "bun:test";
import { sessionBody } from "../support/api";
import { nextLoss, nextReady, watchStored } from "../support/engine-watch";
import { useInProcess } from "../support/in-process";

// A frozen engine (SIGSTOP: alive, port open, answering nothing, as in opencode#20695) is found by the
// watchdog and replaced; runs in it resume as after a crash. Small limits so the test is quick:
// a check every 0.5 s, 0.5 s each, 2 failures (the defaults are 5 s, 3 s, 3).

const suite = useInProcess({
	ENGINE_HEALTH_INTERVAL: "0.5",
	ENGINE_HEALTH_TIMEOUT: "0.5",
	ENGINE_HEALTH_FAILURES: "2",
});
beforeAll(() => suite.sidecar.engine.whenWarm());

const logged = (msg: string) =>
	suite.logLines.map((l) => JSON.parse(l) as Record<string, unknown> & { time: string }).filter((l) => l.msg === msg);

async function recycles(): Promise<number> {
	const text = await (await suite.handle("/metrics")).text();
	const line = text
		.split("\n")
		.find((l) => l.startsWith('opencode_sidecar_engine_recycles_total{reason="unresponsive"}'));
	return Number(line?.split(" ").at(-1) ?? 0);
}

/** Freezes the engine; resolves with how long the watchdog took to replace it and the loss's reason. */
async function freezeEngine(): Promise<{ reason: string; detectedMs: number; pid: number }> {
	const pid = suite.sidecar.engine.pid;
	if (pid === undefined) throw new Error("no engine process");
	const lost = nextLoss(suite.sidecar);
	const frozenAt = Date.now();
	process.kill(pid, "SIGSTOP");
	const reason = await lost;
	return { reason, detectedMs: Date.now() - frozenAt, pid };
}

describe("the engine watchdog", () => {
	test("an engine frozen mid-run is recycled; /ready comes back; the run resumes and completes", async () => {
		let release: () => void = () => {};
		const held = new Promise<void>((r) => {
			release = r;
		});
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [
			// The first answer stops half-way, and the engine is frozen there.
			{ kind: "text", text: "one two three four five six", chunks: 6, hold: { afterDeltas: 3, until: held } },
			{ kind: "text", text: "Finished in the new engine." },
		]);
		const before = await recycles();
		expect((await suite.post(body)).status).toBe(201);
		const session = suite.sidecar.sessions.get(body.session_id);
		const stored = await watchStored(session);
		await stored.until((all) => all.some((e) => e.event === "output"), "first output");
		const ready = nextReady(suite.sidecar);
		const { reason, detectedMs, pid } = await freezeEngine();
		expect(reason).toContain("health checks");
		console.log(`watchdog: frozen engine (mid-run) replaced after ${detectedMs} ms`);
		await ready;
		expect(suite.sidecar.engine.pid).not.toBe(pid);
		expect((await suite.handle("/ready")).status).toBe(200);
		await stored.until((all) => all.at(-1)?.event === "complete" || all.at(-1)?.event === "error", "run end", 120_000);
		release();
		const events = stored.events;
		expect(events.at(-1)).toMatchObject({ event: "complete", data: { final_message: "Finished in the new engine." } });
		const notice = events.find((e) => e.event === "error");
		expect(notice?.data).toMatchObject({ code: "interrupted", fatal: false });
		expect(JSON.stringify(notice?.data)).toContain("recycled");
		expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
		expect(await recycles()).toBe(before + 1);
		const line = logged("recycling the engine").at(-1);
		expect(line).toMatchObject({ level: "warn", cause: "unresponsive" });
		stored.stop();
	});

	test("an engine frozen while idle is recycled and no run is affected", async () => {
		const body = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(body.model_config.api_key);
		suite.llm.script(body.model_config.api_key, [{ kind: "text", text: "Done before the freeze." }]);
		expect((await suite.post(body)).status).toBe(201);
		const done = suite.sidecar.sessions.get(body.session_id);
		const stored = await watchStored(done);
		await stored.until((all) => all.at(-1)?.event === "complete", "first run");
		const lastId = done.channel.lastId;
		const before = await recycles();
		const ready = nextReady(suite.sidecar);
		const { detectedMs } = await freezeEngine();
		console.log(`watchdog: frozen engine (idle) replaced after ${detectedMs} ms`);
		await ready;
		expect((await suite.handle("/ready")).status).toBe(200);
		expect(await recycles()).toBe(before + 1);
		// The ended session is untouched.
		expect(done.channel.lastId).toBe(lastId);
		expect(done.record.status).toBe("completed");
		// The new engine takes runs.
		const next = sessionBody({ model_config: { api_endpoint: suite.llm.url } });
		suite.keys.push(next.model_config.api_key);
		suite.llm.script(next.model_config.api_key, [{ kind: "text", text: "The new engine works." }]);
		expect((await suite.post(next)).status).toBe(201);
		const again = await watchStored(suite.sidecar.sessions.get(next.session_id));
		await again.until((all) => all.at(-1)?.event === "complete", "run in the new engine");
		expect(again.events.some((e) => e.event === "error")).toBe(false);
		stored.stop();
		again.stop();
	});
});
