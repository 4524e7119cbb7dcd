import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { postSession, sessionBody } from "../support/api";
import { useE2eSidecar } from "../support/e2e";
import type { LogLine, SidecarProcess } from "../support/sidecar-process";
import { readStream } from "../support/sse-client";

/** The engine's lifecycle seen from the logs of a real sidecar process: a normal life is quiet. */
const e2e = useE2eSidecar({ sidecar: false });

const noisy = (logs: readonly LogLine[]) =>
	logs.filter((l) => l.level === "warn" || l.level === "error" || l.level === "fatal" || l.raw !== undefined);

async function oneRun(sidecar: SidecarProcess): Promise<void> {
	const key = e2e.newKey("sk-quiet", [{ kind: "text", text: "All quiet." }]);
	const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
	expect((await postSession(sidecar.url, body)).status).toBe(201);
	const { events } = await readStream(`${sidecar.url}/sessions/${body.session_id}/stream`);
	expect(events.at(-1)).toMatchObject({ event: "complete", data: { final_message: "All quiet." } });
}

describe("a normal start and stop", () => {
	test("start, warm-up, a run, SIGTERM: exit 0, and not one warning or error in the logs", async () => {
		const sidecar = await e2e.start({ dirs: e2e.makeDirs() });
		await sidecar.waitForLog((l) => l.msg === "engine warmed up");
		await oneRun(sidecar);
		expect(await sidecar.stop()).toBe(0);
		expect(noisy(sidecar.logs)).toEqual([]);
		// The warm-up's model call is refused by the gateway, as designed, and said so only at debug level.
		expect(
			sidecar.logs.some((l) => l.msg === "gateway refused a call for no live session" && l.level === "debug"),
		).toBe(true);
	});

	test("Ctrl-C (SIGINT to the sidecar and the engine at once): no restart, exit 0, no warning or error", async () => {
		const dirs = e2e.makeDirs();
		const sidecar = await e2e.start({ dirs });
		await sidecar.waitForLog((l) => l.msg === "engine warmed up");
		await oneRun(sidecar);
		const enginePid = Number(readFileSync(join(dirs.state, "engine/engine.pid"), "utf8"));
		const starts = sidecar.logs.filter((l) => l.msg === "engine starting").length;
		// A terminal's Ctrl-C signals the whole process group: the engine usually gets it first.
		process.kill(enginePid, "SIGINT");
		const exited = sidecar.kill("SIGINT");
		expect(await exited).toBe(0);
		expect(noisy(sidecar.logs)).toEqual([]);
		expect(sidecar.logs.filter((l) => l.msg === "engine starting")).toHaveLength(starts);
		expect(sidecar.logs.some((l) => l.msg === "engine restart scheduled")).toBe(false);
	});
});
