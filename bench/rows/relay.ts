import type { ScriptedLlm } from "../../test/support/scripted-llm";
import { createSession, waitEnded } from "../lib/api";
import { sleep } from "../lib/clock";
import { type Recording, record } from "../lib/recorder";
import { type RowResult, ratio } from "../lib/result";
import type { SidecarHost } from "../lib/sidecar-host";
import { median, round, roundAll, summarize } from "../lib/stats";

const TOKENS = 2000;
/** Pause between deltas for the latency run: ~300-500 tokens/s, a fast real model. */
const PACED_DELAY_MS = 2;
const THROUGHPUT_RUNS = 5;

/** `w00042 `: every token distinct and the same length, so `chunks` cuts on token boundaries. */
const token = (i: number) => `w${String(i).padStart(5, "0")} `;
const TOKEN = /w(\d{5}) /g;

interface Arrivals {
	/** Token index → when it first arrived. */
	readonly direct: Map<number, number>;
	/** A second direct subscriber: how far apart the engine itself serves two subscribers. */
	readonly control: Map<number, number>;
	readonly ours: Map<number, number>;
	/** When the engine's model call reached the scripted model (the same clock, epoch ms). */
	readonly requested: number;
}

/**
 * One scripted run of `TOKENS` tokens, watched by two direct subscribers to
 * the engine's `/event` (the baseline and a control) and by a subscriber to
 * our stream; returns when each token reached each of them.
 */
async function run(host: SidecarHost, llm: ScriptedLlm, delayMs: number): Promise<Arrivals> {
	const engine = host.child.hello.engine;
	if (!engine) throw new Error("sidecar host did not report its engine");
	const direct = new Map<number, number>();
	const control = new Map<number, number>();
	const ours = new Map<number, number>();
	const note = (into: Map<number, number>, text: string, at: number) => {
		for (const m of text.matchAll(TOKEN)) {
			const i = Number(m[1]);
			if (!into.has(i)) into.set(i, at);
		}
	};
	const engineUrl = `${engine.url}/event?directory=${encodeURIComponent(host.dirs.workspace)}`;
	const engineStreams = [
		record(engineUrl, { authorization: engine.authorization }),
		record(engineUrl, { authorization: engine.authorization }),
	];
	let ourStream: Recording | undefined;
	let requested = 0;
	try {
		await sleep(100); // connected before the run starts
		const text = Array.from({ length: TOKENS }, (_, i) => token(i)).join("");
		const session = await createSession(host.base, llm, [{ kind: "text", text, chunks: TOKENS, delayMs }]);
		ourStream = record(`${host.base}/sessions/${session.id}/stream`, {});
		requested = (await llm.waitForRequest((r) => r.key === session.key, 60_000)).at;
		await Promise.race([ourStream.done, sleep(60_000)]);
		ourStream.close();
		await waitEnded(host.base, session.id);
	} finally {
		for (const f of engineStreams) f.close();
	}
	for (const [i, into] of [direct, control].entries()) {
		for (const { event, at } of (engineStreams[i] as Recording).events()) {
			if (!event.data.includes('"message.part.delta"')) continue;
			const ev = JSON.parse(event.data) as { type: string; properties: { delta?: string } };
			if (ev.type === "message.part.delta" && ev.properties.delta) note(into, ev.properties.delta, at);
		}
	}
	for (const { event, at } of ourStream.events())
		if (event.event === "output") note(ours, (JSON.parse(event.data) as { text: string }).text, at);
	if (direct.size !== TOKENS || control.size !== TOKENS || ours.size !== TOKENS)
		throw new Error(
			`relay run lost tokens: direct ${direct.size}, control ${control.size}, ours ${ours.size} of ${TOKENS}`,
		);
	return { direct, control, ours, requested };
}

/**
 * Tokens per second from the moment the engine's model call reached the
 * scripted model (one origin for every side) to each side's last token. (The
 * first token to reach anyone is no origin: the engine serves its subscribers
 * one after another, and the sidecar turns a burst into one event, so its
 * whole burst can arrive at once, before a direct subscriber's first token.)
 */
function throughput(a: Arrivals): { direct: number; control: number; ours: number } {
	const rate = (m: Map<number, number>) => TOKENS / ((Math.max(...m.values()) - a.requested) / 1000);
	return { direct: rate(a.direct), control: rate(a.control), ours: rate(a.ours) };
}

export async function relayRows(host: SidecarHost, llm: ScriptedLlm): Promise<RowResult> {
	const paced = await run(host, llm, PACED_DELAY_MS);
	const added: number[] = [];
	const spread: number[] = [];
	for (const [i, at] of paced.ours) {
		const base = paced.direct.get(i) as number;
		added.push(at - base);
		spread.push(Math.abs((paced.control.get(i) as number) - base));
	}
	const lat = summarize(added);
	const noise = summarize(spread);
	const pacedRate = throughput(paced);

	const runs: { direct: number; control: number; ours: number; ratio: number; control_ratio: number }[] = [];
	for (let i = 0; i < THROUGHPUT_RUNS; i++) {
		const t = throughput(await run(host, llm, 0));
		runs.push({ ...t, ratio: ratio(t.ours, t.direct), control_ratio: ratio(t.control, t.direct) });
	}
	const mid = runs.toSorted((a, b) => a.ratio - b.ratio)[Math.floor(runs.length / 2)] as (typeof runs)[number];
	const detail = {
		tokens: TOKENS,
		paced_delay_ms: PACED_DELAY_MS,
		added_ms: roundAll(lat),
		engine_two_subscribers_apart_ms: roundAll(noise),
	};
	return {
		notes: [
			`Relay: the scripted model streams ${TOKENS} distinct tokens (\`w00042 \`), one per delta, through the real engine and the sidecar host (bench/host/sidecar.ts: src/main.ts plus an IPC hook). Two direct subscribers to the engine's \`GET /event\` (baseline and control) and one subscriber to our stream record every chunk with its arrival time and are parsed afterwards; each token is matched across them. Latency: paced ${PACED_DELAY_MS} ms apart; added = ours − direct per token. Throughput: flat out (no pause), tokens ÷ time from the model call reaching the scripted model to each side's last token, median of ${THROUGHPUT_RUNS} runs; the engine writes a burst to its subscribers one after another, so \`median_control_ratio\` (second direct subscriber ÷ first) shows how much of the spread is the engine's.`,
		],
		rows: [
			{
				id: "relay.latency.p50",
				figure: `relay latency, added p50 (${TOKENS} tokens, ${PACED_DELAY_MS} ms apart)`,
				baseline: {
					label: "direct engine `/event` subscriber, same token",
					value: 0,
					unit: "ms",
				},
				measured: { value: round(lat.p50), unit: "ms" },
				comparison: { kind: "added", value: round(lat.p50) },
				goal: "≤ 1 ms",
				met: lat.p50 <= 1,
				detail,
			},
			{
				id: "relay.latency.p99",
				figure: "relay latency, added p99",
				baseline: {
					label: "direct engine `/event` subscriber, same token",
					value: 0,
					unit: "ms",
				},
				measured: { value: round(lat.p99), unit: "ms" },
				comparison: { kind: "added", value: round(lat.p99) },
				goal: "≤ 5 ms",
				met: lat.p99 <= 5,
				detail,
			},
			{
				id: "relay.throughput",
				figure: `relay throughput, model streaming flat out (median of ${THROUGHPUT_RUNS} runs of ${TOKENS} tokens)`,
				baseline: {
					label: "direct engine `/event` subscriber",
					value: round(mid.direct),
					unit: "tokens/s",
				},
				measured: { value: round(mid.ours), unit: "tokens/s" },
				comparison: { kind: "ratio", value: round(mid.ratio) },
				goal: "≥ 0.95",
				met: mid.ratio >= 0.95,
				detail: {
					runs: runs.map(roundAll),
					paced_run: {
						...roundAll(pacedRate),
						ratio: round(ratio(pacedRate.ours, pacedRate.direct)),
					},
					median_ratio: round(median(runs.map((r) => r.ratio))),
					// The engine writes a burst to its subscribers one after another: how far a second direct subscriber is from the first.
					median_control_ratio: round(median(runs.map((r) => r.control_ratio))),
				},
			},
		],
	};
}
