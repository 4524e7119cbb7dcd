/**
 * The scripted model calls a tool the way the engine offers it, as a real model reads the
 * request's tool list: a script written with OpenCode 1.x's names (`bash {command}`,
 * `write {filePath}`) calls `shell` and passes `path` when the request offers those instead
 * (OpenCode 2.x). A tool that is not offered under either name is called as scripted (the
 * engine then refuses it, which tests of disabled tools rely on).
 */

/** A 1.x tool name → the name another engine generation offers for it. */
const ALIASES: Readonly<Record<string, string>> = { bash: "shell", task: "subagent" };

type Schema = { properties?: Record<string, unknown> };

/** Name → parameter schema of each tool the request offers, in any of the three wire formats. */
function offeredTools(body: unknown): Map<string, Schema> {
	const tools = new Map<string, Schema>();
	const list = (body as { tools?: unknown })?.tools;
	if (!Array.isArray(list)) return tools;
	for (const t of list as Record<string, unknown>[]) {
		const fn = (t.function ?? t) as Record<string, unknown>;
		const name = fn.name;
		if (typeof name !== "string") continue;
		tools.set(name, (fn.parameters ?? fn.input_schema ?? t.input_schema ?? {}) as Schema);
	}
	return tools;
}

/** `call` as the request's tools take it. */
export function asOffered(
	call: { name: string; args: Record<string, unknown> },
	requestBody: unknown,
): { name: string; args: Record<string, unknown> } {
	const tools = offeredTools(requestBody);
	const alias = ALIASES[call.name];
	const name = !tools.has(call.name) && alias !== undefined && tools.has(alias) ? alias : call.name;
	const properties = tools.get(name)?.properties ?? {};
	const { filePath, ...rest } = call.args;
	if (filePath !== undefined && !("filePath" in properties) && "path" in properties)
		return { name, args: { path: filePath, ...rest } };
	return { name, args: call.args };
}
