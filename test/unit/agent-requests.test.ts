import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type EngineEvent, parseEngineEvent } from "../../src/engine/events";
import { agentRequest, isAgentRequest } from "../../src/sessions/agent-requests";

const recorded = readFileSync(
	join(import.meta.dir, "../fixtures/engine-samples/opencode-1.18.33-question-todo-permission.jsonl"),
	"utf8",
)
	.split("\n")
	.filter((l) => l.trim() !== "")
	.map((l) => parseEngineEvent(l) as EngineEvent);
const find = (type: string) => {
	const e = recorded.find((x) => x.type === type);
	if (!e) throw new Error(`no ${type} in the recording`);
	return e;
};

test("the engine's recorded permission.asked and question.asked become run machine inputs", () => {
	expect(agentRequest(find("permission.asked"))).toEqual({
		type: "permissionAsked",
		ask: {
			id: "per_1fd809ab5001HVQIgp2mKyQF5R",
			permission: "external_directory",
			patterns: ["/etc/*"],
			paths: ["/etc/hostname", "/etc"],
		},
	});
	expect(agentRequest(find("question.asked"))).toEqual({
		type: "questionAsked",
		id: "que_1fd809a8d001GJ3yOHaKV3OTY9",
		questions: [
			{
				question: "Which color should the banner use?",
				header: "Color",
				options: [
					{ label: "red", description: "warm" },
					{ label: "blue", description: "cool" },
				],
				multiple: false,
			},
		],
	});
});

test("a request without an id is no input (but still the agent's request); other events are neither", () => {
	const noId: EngineEvent = { type: "permission.asked", properties: { permission: "bash" } };
	expect(isAgentRequest(noId)).toBe(true);
	expect(agentRequest(noId)).toBeUndefined();
	expect(agentRequest({ type: "question.asked", properties: { questions: [] } })).toBeUndefined();
	const other = find("todo.updated");
	expect(isAgentRequest(other)).toBe(false);
	expect(agentRequest(other)).toBeUndefined();
});
