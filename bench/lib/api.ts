import type { ScriptedLlm, Turn } from "../../test/support/scripted-llm";
import { now, sleep } from "./clock";

/** A session created through `POST /sessions` against the scripted LLM. */
export interface Created {
	readonly id: string;
	/** The session's API key: the scripted model's requests carry it. */
	readonly key: string;
	readonly status: number;
	/** Request to response, in ms. */
	readonly ms: number;
}

/** Creates a session whose LLM replies with `turns` (scripted under a fresh key). */
export async function createSession(base: string, llm: ScriptedLlm, turns: Turn[]): Promise<Created> {
	const key = `sk-bench-${crypto.randomUUID()}`;
	llm.script(key, turns);
	const id = crypto.randomUUID();
	const body = JSON.stringify({
		session_id: id,
		prompt: "Say what you are told to say.",
		model_config: {
			provider: "openai-compatible",
			model: "bench",
			api_key: key,
			temperature: 0,
			max_tokens: 4096,
			enabled_tools: [],
			api_endpoint: llm.url,
		},
	});
	const started = now();
	const res = await fetch(`${base}/sessions`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body,
	});
	const ms = now() - started;
	await res.arrayBuffer();
	if (res.status !== 201) throw new Error(`POST /sessions answered ${res.status}`);
	return { id, key, status: res.status, ms };
}

/** Waits (bounded) until a session's run has ended. */
export async function waitEnded(base: string, id: string, timeoutMs = 60_000): Promise<string> {
	const deadline = now() + timeoutMs;
	while (now() < deadline) {
		const res = await fetch(`${base}/sessions/${id}/status`);
		const { status } = (await res.json()) as { status: string };
		if (status !== "pending" && status !== "running") return status;
		await sleep(20);
	}
	throw new Error(`session ${id} still running after ${timeoutMs} ms`);
}

export async function cancel(base: string, id: string): Promise<void> {
	const res = await fetch(`${base}/sessions/${id}`, { method: "DELETE" });
	await res.arrayBuffer();
}
