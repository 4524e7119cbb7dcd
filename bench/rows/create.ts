import type { ScriptedLlm } from "../../test/support/scripted-llm";
import { createSession, waitEnded } from "../lib/api";
import { now, sleep } from "../lib/clock";
import { type RowResult, ratio } from "../lib/result";
import type { SidecarHost } from "../lib/sidecar-host";
import { round, roundAll, summarize } from "../lib/stats";

const CREATES = 40;

/**
 * The two engine calls `POST /sessions` makes (create a session, send the
 * prompt), made directly by the bench. The run itself fails at once at the
 * credential gateway, which knows no such session; only the calls are timed.
 */
async function engineCreate(host: SidecarHost): Promise<number> {
	const engine = host.child.hello.engine;
	if (!engine) throw new Error("sidecar host did not report its engine");
	const q = `?directory=${encodeURIComponent(host.dirs.workspace)}`;
	const headers = { authorization: engine.authorization, "content-type": "application/json" };
	const started = now();
	const res = await fetch(`${engine.url}/session${q}`, {
		method: "POST",
		headers,
		body: JSON.stringify({ title: "bench baseline" }),
	});
	const { id } = (await res.json()) as { id: string };
	const prompt = await fetch(`${engine.url}/session/${id}/prompt_async${q}`, {
		method: "POST",
		headers,
		body: JSON.stringify({
			parts: [{ type: "text", text: "Say what you are told to say." }],
			model: { providerID: "openai", modelID: "session-model" },
		}),
	});
	await prompt.arrayBuffer();
	const ms = now() - started;
	if (!res.ok || !prompt.ok) throw new Error(`engine create answered ${res.status}/${prompt.status}`);
	return ms;
}

/**
 * `POST /sessions` → 201, one at a time on an otherwise quiet sidecar (each
 * run ends before the next create), alternated with the same two calls made
 * to the engine directly.
 */
export async function createRows(host: SidecarHost, llm: ScriptedLlm): Promise<RowResult> {
	const ours: number[] = [];
	const direct: number[] = [];
	for (let i = 0; i < CREATES; i++) {
		const s = await createSession(host.base, llm, [{ kind: "text", text: "Done." }]);
		ours.push(s.ms);
		await waitEnded(host.base, s.id);
		direct.push(await engineCreate(host));
		await sleep(100); // its refused model call settles
	}
	const o = summarize(ours);
	const d = summarize(direct);
	return {
		notes: [
			`Create: ${CREATES} \`POST /sessions\` one at a time, each run ending before the next; each alternated with the same two calls (\`POST /session\`, \`POST /session/{id}/prompt_async\`) made to the engine directly.`,
		],
		rows: [
			{
				id: "create.p99",
				figure: `create: \`POST /sessions\` → 201 (p99 of ${CREATES}, one at a time)`,
				baseline: {
					label: "the engine's own create + prompt_async, called directly",
					value: round(d.p99),
					unit: "ms",
				},
				measured: { value: round(o.p99), unit: "ms" },
				comparison: { kind: "ratio", value: round(ratio(o.p99, d.p99)) },
				goal: "p99 ≤ 50 ms",
				met: o.p99 <= 50,
				detail: { sidecar_ms: roundAll(o), engine_direct_ms: roundAll(d) },
			},
		],
	};
}
