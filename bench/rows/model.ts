import { join } from "node:path";
import type { ScriptedLlm, Turn } from "../../test/support/scripted-llm";
import { makeTempDirs } from "../../test/support/workspace";
import { createSession, waitEnded } from "../lib/api";
import { now, sleep } from "../lib/clock";
import { timeEngineAlone } from "../lib/engine-alone";
import { type Recording, record } from "../lib/recorder";
import { type RowResult, ratio } from "../lib/result";
import type { SidecarHost } from "../lib/sidecar-host";
import { round, roundAll, summarize } from "../lib/stats";

const RUNS = 30;
const ALONE_KEY = "sk-bench-engine-alone";
const TURN: Turn = { kind: "text", text: "The answer is here, in four pieces.", chunks: 4 };

interface Timing {
	/** Request sent → the scripted model has the first call. */
	toModel: number;
	/** That call → the first piece of output reaches the subscriber. */
	toOutput: number;
	/** Sidecar: request sent → 201. Engine alone: request sent → its create answered. */
	firstAnswer: number;
}

/** The first request with `key` that arrived after `from` requests had. */
const requestAfter = (llm: ScriptedLlm, key: string, from: number) =>
	llm.waitForRequest((r) => r.key === key && llm.requests.indexOf(r) >= from, 60_000);

/** Through the sidecar: `POST /sessions`, our stream opened at the 201. */
async function viaSidecar(host: SidecarHost, llm: ScriptedLlm): Promise<Timing> {
	const started = now();
	const s = await createSession(host.base, llm, [TURN]);
	const stream = record(`${host.base}/sessions/${s.id}/stream`, {});
	try {
		const requested = (await llm.waitForRequest((r) => r.key === s.key, 60_000)).at;
		await Promise.race([stream.done, sleep(60_000)]);
		const output = stream.events().find((e) => e.event.event === "output");
		if (!output) throw new Error("no output event on the stream");
		await waitEnded(host.base, s.id);
		return { toModel: requested - started, toOutput: output.at - requested, firstAnswer: s.ms };
	} finally {
		stream.close();
	}
}

/** The engine alone, its providers pointed straight at the scripted model: create + prompt_async, its own `/event`. */
async function viaEngine(
	engine: { url: string; authorization: string },
	workspace: string,
	events: Recording,
	llm: ScriptedLlm,
): Promise<Timing> {
	llm.script(ALONE_KEY, [TURN]);
	const from = llm.requests.length;
	const seen = events.events().length;
	const q = `?directory=${encodeURIComponent(workspace)}`;
	const headers = { authorization: engine.authorization, "content-type": "application/json" };
	const started = now();
	const res = await fetch(`${engine.url}/session${q}`, {
		method: "POST",
		headers,
		body: JSON.stringify({ title: "bench" }),
	});
	const { id } = (await res.json()) as { id: string };
	const created = now() - started;
	const prompt = await fetch(`${engine.url}/session/${id}/prompt_async${q}`, {
		method: "POST",
		headers,
		body: JSON.stringify({
			parts: [{ type: "text", text: "Say what you are told to say." }],
			model: { providerID: "openai-compatible", modelID: "session-model" },
		}),
	});
	await prompt.arrayBuffer();
	const requested = (await requestAfter(llm, ALONE_KEY, from)).at;
	for (let waited = 0; waited < 60_000; waited += 10) {
		const delta = events
			.events()
			.slice(seen)
			.find((e) => e.event.data.includes('"message.part.delta"') && e.event.data.includes(id));
		if (delta) {
			await untilIdle(events, id, seen);
			return { toModel: requested - started, toOutput: delta.at - requested, firstAnswer: created };
		}
		await sleep(10);
	}
	throw new Error("the engine alone sent no text delta");
}

async function untilIdle(events: Recording, id: string, seen: number): Promise<void> {
	for (let waited = 0; waited < 60_000; waited += 10) {
		if (
			events
				.events()
				.slice(seen)
				.some((e) => e.event.data.includes('"session.idle"') && e.event.data.includes(id))
		)
			return;
		await sleep(10);
	}
}

/**
 * Issue 13, time to the model: how long after `POST /sessions` the provider
 * gets the first call, and from that call to the first `output` event on the
 * stream; alternated with the engine alone doing the same (create +
 * prompt_async, its providers pointed straight at the scripted model, its own
 * `/event` stream), both warm.
 */
export async function modelRows(host: SidecarHost, llm: ScriptedLlm): Promise<RowResult> {
	const dirs = makeTempDirs("bench-model-");
	const engine = await timeEngineAlone(dirs.workspace, join(dirs.state, "engine"), 60_000, (config) => {
		for (const p of Object.values(config.provider as Record<string, { options: Record<string, string> }>))
			p.options = { baseURL: llm.url, apiKey: ALONE_KEY };
	});
	const events = record(`${engine.url}/event?directory=${encodeURIComponent(dirs.workspace)}`, {
		authorization: engine.authorization,
	});
	const ours: Timing[] = [];
	const alone: Timing[] = [];
	try {
		// Warm both: the engine sets a project up on its first run.
		await viaEngine(engine, dirs.workspace, events, llm);
		await viaSidecar(host, llm);
		for (let i = 0; i < RUNS; i++) {
			ours.push(await viaSidecar(host, llm));
			alone.push(await viaEngine(engine, dirs.workspace, events, llm));
		}
	} finally {
		events.close();
		await engine.stop();
		dirs.cleanup();
	}
	const om = summarize(ours.map((t) => t.toModel));
	const am = summarize(alone.map((t) => t.toModel));
	const oo = summarize(ours.map((t) => t.toOutput));
	const ao = summarize(alone.map((t) => t.toOutput));
	const of = summarize(ours.map((t) => t.firstAnswer));
	const af = summarize(alone.map((t) => t.firstAnswer));
	return {
		notes: [
			`Time to the model (issue 13): ${RUNS} runs alternated, warm: \`POST /sessions\` (stream opened at the 201) against the engine alone (bench/lib/engine-alone.ts, its providers pointed straight at the scripted model) doing \`POST /session\` + \`POST /session/{id}/prompt_async\` and watched on its own \`/event\`. "To the model": request sent → the scripted model has the first call (its own clock, ms). "To output": that call → the first \`output\` event on our stream, or the first \`message.part.delta\` on the engine's \`/event\`. The sidecar's path adds the credential gateway (engine → gateway → model) and, for output, the engine → sidecar → stream hop.`,
		],
		rows: [
			{
				id: "model.first_call.p99",
				figure: `time to the model: \`POST /sessions\` → the provider's first call (p99 of ${RUNS}, warm)`,
				baseline: { label: "the engine alone: create + prompt_async → first call", value: round(am.p99), unit: "ms" },
				measured: { value: round(om.p99), unit: "ms" },
				comparison: { kind: "added", value: round(om.p99 - am.p99) },
				goal: "≤ engine alone + 20 ms",
				met: om.p99 - am.p99 <= 20,
				detail: {
					sidecar_ms: roundAll(om),
					engine_alone_ms: roundAll(am),
					ratio_p50: round(ratio(om.p50, am.p50)),
					sidecar_post_to_201_ms: roundAll(of),
					engine_alone_create_ms: roundAll(af),
				},
			},
			{
				id: "model.first_output.p99",
				figure: `time to the model: the provider's first call → first \`output\` event on the stream (p99 of ${RUNS}, warm)`,
				baseline: {
					label: "the engine alone: first call → first text delta on `/event`",
					value: round(ao.p99),
					unit: "ms",
				},
				measured: { value: round(oo.p99), unit: "ms" },
				comparison: { kind: "added", value: round(oo.p99 - ao.p99) },
				goal: "≤ engine alone + 20 ms",
				met: oo.p99 - ao.p99 <= 20,
				detail: { sidecar_ms: roundAll(oo), engine_alone_ms: roundAll(ao), ratio_p50: round(ratio(oo.p50, ao.p50)) },
			},
		],
	};
}
