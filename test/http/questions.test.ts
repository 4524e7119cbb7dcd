import { expect, test } from "bun:test";
import { readSse } from "../faults/helpers";
import { sessionBody } from "../support/api";
import { useInProcess } from "../support/in-process";
import { questionCall } from "../support/scripted-llm";

// A question of the agent is owned by its run (run-machine.ts, run-requests.ts): answers that do
// not fit are refused and leave it open; the run's end drops it, its timer with it.

// Nobody's default answer may come during the test.
const it = useInProcess({ QUESTION_TIMEOUT: "3600" });

const answer = (id: string, questionId: string, answers: string[][]) =>
	it.handle(`/sessions/${id}/questions/${questionId}`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ answers }),
	});

/** Reads the session's stream up to the first event of type `until` (or its end); the events so far. */
async function readUntil(id: string, until: string) {
	const { events } = await readSse(await it.handle(`/sessions/${id}/stream`), (e) => e.event === until);
	return events.filter((e) => e.event !== "heartbeat");
}

test("answers that do not fit are a 400 and leave the question open; a cancelled run's question is gone (404)", async () => {
	const body = sessionBody({
		model_config: { api_endpoint: it.llm.url, enabled_tools: ["read", "question"] },
	});
	const key = body.model_config.api_key;
	it.keys.push(key);
	it.llm.script(key, [
		questionCall("Which colour?", "Colour", [
			["red", "warm"],
			["blue", "cool"],
		]),
		{ kind: "text", text: "never reached" },
	]);
	expect((await it.post(body)).status).toBe(201);
	const id = body.session_id;
	const asked = (await readUntil(id, "question")).at(-1);
	const questionId = String(asked?.data.question_id);

	// Two labels for a one-choice question, and no label at all: refused, the question stays open.
	for (const wrong of [[["red", "blue"]], [[]]]) {
		const res = await answer(id, questionId, wrong);
		expect(res.status).toBe(400);
		expect(await res.json()).toMatchObject({ code: "invalid_request", details: { field: "answers" } });
	}
	expect(it.sidecar.sessions.get(id).run.questions.map((q) => q.id)).toEqual([questionId]);
	expect((await answer(id, "que_unknown", [["red"]])).status).toBe(404);

	expect((await it.handle(`/sessions/${id}`, { method: "DELETE" })).status).toBe(200);
	const late = await answer(id, questionId, [["red"]]);
	expect(late.status).toBe(404);
	expect(await late.json()).toMatchObject({ code: "question_not_found" });
	const session = it.sidecar.sessions.get(id);
	expect(session.run.questions).toEqual([]);
	expect(session.questionTimersArmed).toBe(0);
	// Nothing answered it: no answer was stored, and the model never got one.
	const stored = await readUntil(id, "never");
	expect(stored.filter((e) => e.event === "output" && String(e.data.text).startsWith("Question answered"))).toEqual([]);
	expect(stored.at(-1)).toMatchObject({ event: "error", data: { code: "cancelled" } });
	expect(it.llm.requests.filter((r) => r.key === key)).toHaveLength(1);
});
