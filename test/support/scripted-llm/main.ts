/**
 * Starts the scripted LLM on $PORT (default 0 = random), prints its base URL and scripts the
 * key `demo-key`: some text, a `write` tool call creating hello.txt, a closing text.
 *
 *   node_modules/.bin/bun test/support/scripted-llm/main.ts
 */
import { startScriptedLlm } from "./index";

const llm = await startScriptedLlm({ port: Number(process.env.PORT ?? 0) });
llm.script("demo-key", [
	{ kind: "text", text: "I will create hello.txt for you." },
	{
		kind: "tool",
		text: "Writing the file now.",
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
