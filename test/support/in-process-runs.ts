import { expect } from "bun:test";
import { SseParser } from "../../src/sse/parse";
import type { InProcess } from "./in-process";

/** One event of a session's stream, its data parsed. */
export interface StreamedEvent {
	readonly id: number;
	readonly event: string;
	readonly data: Record<string, unknown>;
}

/** Every event of the session's stream (heartbeats left out) until the server ends it, after the terminal event. */
export async function streamedEvents(suite: Pick<InProcess, "handle">, id: string): Promise<StreamedEvent[]> {
	const res = await suite.handle(`/sessions/${id}/stream`);
	expect(res.status).toBe(200);
	const parser = new SseParser();
	const out: StreamedEvent[] = [];
	const decoder = new TextDecoder();
	for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
		for (const e of parser.push(decoder.decode(chunk, { stream: true }))) {
			if (e.event !== "heartbeat") out.push({ id: Number(e.id), event: e.event, data: JSON.parse(e.data) });
		}
	}
	return out;
}

/** Stops the engine process as a hung engine would be (SIGSTOP), for the duration of `run`. */
export async function withEngineFrozen<T>(suite: Pick<InProcess, "sidecar">, run: () => Promise<T>): Promise<T> {
	const pid = suite.sidecar.engine.pid;
	if (pid === undefined) throw new Error("no engine process");
	process.kill(pid, "SIGSTOP");
	try {
		return await run();
	} finally {
		process.kill(pid, "SIGCONT");
	}
}

/** The sidecar's log lines with this message (and session), parsed. */
export const loggedLines = (suite: Pick<InProcess, "logLines">, msg: string, sessionId?: string) =>
	suite.logLines
		.map((l) => JSON.parse(l) as Record<string, unknown> & { time: string })
		.filter((l) => l.msg === msg && (sessionId === undefined || l.session_id === sessionId));
