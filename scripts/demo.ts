/**
 * `npm run demo`: the whole flow in one command, with no API key.
 *
 * Starts the real sidecar (and so the real OpenCode engine) on a temporary
 * workspace, points a session at the scripted LLM from the test fixtures,
 * prints the typed event stream as it arrives, then replays part of it with
 * Last-Event-ID and shows the file the agent wrote.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startScriptedLlm } from "../test/support/scripted-llm";
import { startSidecar } from "../test/support/sidecar-process";
import { readStream } from "../test/support/sse-client";
import { makeTempDirs } from "../test/support/workspace";

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s: string) => console.log(`\n${bold(`▸ ${s}`)}`);

const dirs = makeTempDirs("sidecar-demo-");
const llm = await startScriptedLlm();
const key = `sk-demo-${crypto.randomUUID()}`;
llm.script(key, [
	{
		kind: "tool",
		text: "I'll add a greeting module and check it runs.",
		calls: [
			{
				name: "write",
				args: {
					filePath: "src/greet.sh",
					content: '#!/bin/sh\necho "hello, $1"\n',
				},
			},
		],
	},
	{
		kind: "tool",
		text: "Now let me run it.",
		calls: [
			{
				name: "bash",
				args: {
					command: "sh src/greet.sh sidecar",
					description: "Run the greeting",
				},
			},
		],
	},
	{
		kind: "text",
		text: "Done: src/greet.sh prints a greeting, and it works.",
		delayMs: 30,
	},
]);

say(`starting the sidecar (workspace ${dirs.workspace})`);
const sidecar = await startSidecar({
	workspace: dirs.workspace,
	state: dirs.state,
	env: { LOG_LEVEL: "info" },
});
console.log(`  listening on ${sidecar.url}; engine ready`);

try {
	const sessionId = crypto.randomUUID();
	say("POST /sessions");
	const created = await fetch(`${sidecar.url}/sessions`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({
			session_id: sessionId,
			prompt: "Add a shell script that greets its first argument, and run it.",
			model_config: {
				provider: "openai-compatible",
				model: "scripted-demo-model",
				api_key: key,
				temperature: 0.2,
				max_tokens: 2048,
				enabled_tools: ["read", "write", "edit", "bash"],
				api_endpoint: llm.url,
			},
		}),
	});
	console.log(`  ${created.status} ${JSON.stringify(await created.json())}`);

	say(`GET /sessions/${sessionId}/stream`);
	const stream = await readStream(`${sidecar.url}/sessions/${sessionId}/stream`, {
		until: (e) => {
			const { timestamp: _t, ...data } = e.data;
			console.log(`  ${String(e.id ?? "-").padStart(3)} ${e.event.padEnd(11)} ${JSON.stringify(data)}`);
			return false;
		},
	});
	const last = stream.events.at(-1)?.id ?? 0;

	const from = Math.max(0, last - 3);
	say(`reconnect with Last-Event-ID: ${from} (replays the rest, then the stream ends)`);
	const replay = await readStream(`${sidecar.url}/sessions/${sessionId}/stream`, {
		headers: { "Last-Event-ID": String(from) },
	});
	for (const e of replay.events) console.log(`  ${String(e.id).padStart(3)} ${e.event}`);
	const ended = await fetch(`${sidecar.url}/sessions/${sessionId}/stream`, {
		headers: { "Last-Event-ID": String(last) },
	});
	console.log(`  after the last id: ${ended.status} (EventSource stops reconnecting)`);

	say(`GET /sessions/${sessionId}/status`);
	console.log(`  ${JSON.stringify(await (await fetch(`${sidecar.url}/sessions/${sessionId}/status`)).json())}`);

	say("the workspace after the run: src/greet.sh");
	console.log(readFileSync(join(dirs.workspace, "src/greet.sh"), "utf8").replace(/^/gm, "  "));
} finally {
	await sidecar.stop();
	await llm.close();
	dirs.cleanup();
}
