/**
 * Starts the scripted LLM on $PORT (default 0 = random), prints its base URL and scripts the
 * key `demo-key`. Every LLM request takes one turn, and the engine's agent loop stops after a
 * text-only turn, so a demo takes two prompts: the first gets a greeting; the second gets a
 * `write` call creating hello.txt (relative to the engine's directory), after which the engine
 * asks again and gets the closing text. Later requests get "Done.".
 *
 *   node_modules/.bin/bun test/support/scripted-llm/main.ts
 */
import { startScriptedLlm } from "./index";

const llm = await startScriptedLlm({ port: Number(process.env.PORT ?? 0) });
llm.script("demo-key", [
	{
		kind: "text",
		text: "Hello! I am the scripted demo model. Ask me to create hello.txt.",
	},
	{
		kind: "tool",
		text: "Creating hello.txt now.",
		calls: [
			{
				name: "write",
				args: {
					filePath: "hello.txt",
					content: "Hello from the scripted LLM!\n",
				},
			},
		],
	},
	{ kind: "text", text: "Created hello.txt with a greeting." },
]);
console.log(llm.url);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.on(signal, () => {
		void llm.close().then(() => process.exit(0));
	});
}
