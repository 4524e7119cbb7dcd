import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { EngineSessionState } from "../../src/engine/engine";
import { type EngineEvent, engineSessionOf, isObject, type Json, parseEngineEvent, str } from "../../src/engine/events";
import { reconcileEvents } from "../../src/engine/reconcile";
import type { RunOutcome } from "../../src/engine/translate";
import type { LoggedEvent } from "../../src/events/catalogue";
import { Prng } from "../support/prng";
import { FollowedRun } from "./followed-run";

/**
 * Reconciliation against real captures: a run whose feed is cut at event k,
 * comes back at event i (the new connection's events are held), and whose
 * engine state is read when j events have happened (k ≤ i ≤ j), must
 * translate to the same log as the run without a cut (see API_CONTRACT.md,
 * "What the same log means").
 */
const DIR = join(import.meta.dir, "../fixtures/engine-events");
const NOW = Date.parse("2026-11-21T10:00:00.000Z");
const FIXTURES = [
	"openai-responses-write-tool",
	"anthropic-write-tool",
	"openai-compatible-bash-tool",
	"edit-tool",
	"provider-401",
	"abort",
];

function load(name: string) {
	const all = readFileSync(join(DIR, `${name}.jsonl`), "utf8")
		.split("\n")
		.filter((l) => l.trim() !== "")
		.map((l) => parseEngineEvent(l) as EngineEvent);
	const session = all.map(engineSessionOf).find((id) => id !== undefined) as string;
	const events = all.filter((e) => engineSessionOf(e) === session);
	const user = events.find(
		(e) => e.type === "message.updated" && isObject(e.properties.info) && e.properties.info.role === "user",
	);
	const info = user?.properties.info as Json;
	const runStartedAt = Number((info.time as Json).created);
	return { session, events, runStartedAt, workspace: `/tmp/opencode-sidecar-capture/${name}/workspace` };
}

/** What the engine holds after the first `n` events: a model of its storage, built from its own events. */
function engineState(events: readonly EngineEvent[], n: number): EngineSessionState {
	const messages = new Map<string, { info: Json; parts: Map<string, Json> }>();
	let status = "idle";
	let todos: unknown[] = [];
	for (const e of events.slice(0, n)) {
		const p = e.properties;
		if (e.type === "message.updated" && isObject(p.info)) {
			const id = str(p.info.id) as string;
			const m = messages.get(id);
			if (m) m.info = p.info;
			else messages.set(id, { info: p.info, parts: new Map() });
		} else if (e.type === "message.part.updated" && isObject(p.part)) {
			const m = messages.get(str(p.part.messageID) as string);
			m?.parts.set(str(p.part.id) as string, p.part);
		} else if (e.type === "message.part.delta") {
			for (const m of messages.values()) {
				const part = m.parts.get(str(p.partID) as string);
				const field = str(p.field) as string;
				if (part)
					m.parts.set(str(p.partID) as string, { ...part, [field]: `${str(part[field]) ?? ""}${str(p.delta)}` });
			}
		} else if (e.type === "session.status" && isObject(p.status)) {
			status = str(p.status.type) as string;
		} else if (e.type === "todo.updated" && Array.isArray(p.todos)) {
			todos = p.todos;
		}
	}
	return {
		status,
		messages: [...messages.values()].map((m) => ({ info: m.info, parts: [...m.parts.values()] })),
		todos,
	};
}

interface Outcome {
	readonly log: LoggedEvent[];
	readonly outcome: RunOutcome | undefined;
	readonly finalMessage: string;
	readonly files: string[];
}

/** Translates as the sessions do: until the run's outcome; output is the log's too. */
function translate(
	fixture: ReturnType<typeof load>,
	steps: (t: FollowedRun, feed: (e: EngineEvent) => boolean) => void,
): Outcome {
	const t = new FollowedRun({ workspaceDir: fixture.workspace, redact: (s) => s });
	t.beginRun(fixture.runStartedAt);
	const log: LoggedEvent[] = [];
	let outcome: RunOutcome | undefined;
	steps(t, (e) => {
		if (outcome) return false;
		const r = t.follow(e, NOW);
		log.push(...r.events);
		outcome = r.outcome;
		return true;
	});
	return { log, outcome, finalMessage: t.finalMessage, files: t.filesModified };
}

function uncut(fixture: ReturnType<typeof load>): Outcome {
	return translate(fixture, (_t, feed) => {
		for (const e of fixture.events) feed(e);
	});
}

function cut(fixture: ReturnType<typeof load>, k: number, i: number, j: number): Outcome {
	return translate(fixture, (t, feed) => {
		for (const e of fixture.events.slice(0, k)) feed(e);
		const synthesized = reconcileEvents({
			engineSessionId: fixture.session,
			state: engineState(fixture.events, j),
			runStartedAt: fixture.runStartedAt,
			progress: (id) => t.progressOf(id),
		});
		for (const e of synthesized) feed(e);
		for (const e of fixture.events.slice(i)) feed(e);
	});
}

/** The log with consecutive outputs of one stream joined and timestamps dropped: what must be equal. */
function normalized(log: readonly LoggedEvent[]): unknown[] {
	const out: Json[] = [];
	for (const e of log) {
		const { timestamp: _t, ...data } = e.data as Json;
		const last = out.at(-1);
		if (e.event === "output" && last?.event === "output") {
			const a = last.data as Json;
			if (a.type === data.type && a.source === data.source && a.call_id === data.call_id) {
				a.text = `${a.text}${data.text}`;
				continue;
			}
		}
		out.push({ event: e.event, data });
	}
	return out;
}

function expectSame(actual: Outcome, expected: Outcome, label: string): void {
	expect(normalized(actual.log), label).toEqual(normalized(expected.log));
	expect(actual.outcome, label).toEqual(expected.outcome);
	expect(actual.finalMessage, label).toBe(expected.finalMessage);
	expect(actual.files, label).toEqual(expected.files);
}

describe("reconciliation from the engine's state", () => {
	for (const name of FIXTURES) {
		const fixture = load(name);
		const n = fixture.events.length;
		const reference = uncut(fixture);

		test(`${name}: a cut at every event, coming back at once, loses nothing and repeats nothing`, () => {
			expect(reference.outcome).toBeDefined();
			for (let k = 0; k <= n; k++) expectSame(cut(fixture, k, k, k), reference, `cut at ${k}`);
		});

		test(`${name}: a feed down from every event to the end of the run ends the run as the engine did`, () => {
			for (let k = 0; k <= n; k++) expectSame(cut(fixture, k, n, n), reference, `down from ${k}`);
		});

		test(`${name}: seeded random cuts, reconnects and state reads (k ≤ i ≤ j)`, () => {
			const seed = Number(process.env.RECONCILE_SEED ?? Date.now() % 1_000_000);
			console.log(`reconcile ${name}: seed ${seed} (RECONCILE_SEED=${seed} replays it)`);
			const rng = new Prng(seed);
			for (let round = 0; round < 1000; round++) {
				const [k, i, j] = [rng.int(n + 1), rng.int(n + 1), rng.int(n + 1)].sort((a, b) => a - b) as [
					number,
					number,
					number,
				];
				expectSame(cut(fixture, k, i, j), reference, `seed ${seed}, round ${round}: k=${k} i=${i} j=${j}`);
			}
		});
	}

	test("a state read before the engine recorded the run's prompt adds nothing", () => {
		const fixture = load("openai-compatible-bash-tool");
		const before = reconcileEvents({
			engineSessionId: fixture.session,
			state: engineState(fixture.events, fixture.events.length),
			runStartedAt: fixture.runStartedAt + 1,
			progress: () => undefined,
		});
		expect(before).toEqual([]);
	});
});
