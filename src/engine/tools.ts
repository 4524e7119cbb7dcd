/**
 * What `enabled_tools` means. The backend names capabilities (the contract's
 * example is `["read", "write", "bash", "edit"]`); each turns on the engine
 * (opencode 1.18.33) tools that provide it. Engine tool ids are accepted too,
 * for exact control. Tools that change nothing outside the conversation and
 * that the sidecar serves itself (the todo list that drives `progress`,
 * questions answered by the backend or by timeout) are on unless the list
 * turns them off with a `-` entry (`"-todo"`, `"-question"`). Sub-agents
 * (`task`) stay off: a sub-agent session gets its agent's own tools, not this
 * session's restrictions. Pure.
 *
 * Per generation: these are OpenCode 1.x's tool ids (the 1.x adapter sends
 * them as the prompt's `tools` switches); the capability vocabulary itself is
 * the contract's and shared.
 */

/** Tool ids the engine offers (its `GET /experimental/tool/ids` minus `invalid`); an e2e test checks the list. */
export const ENGINE_TOOLS = [
	"apply_patch",
	"bash",
	"edit",
	"glob",
	"grep",
	"question",
	"read",
	"skill",
	"task",
	"todowrite",
	"webfetch",
	"websearch",
	"write",
] as const;
export type EngineTool = (typeof ENGINE_TOOLS)[number];

/** Capability → the engine tools it turns on. */
export const CAPABILITIES = {
	read: ["read", "glob", "grep"],
	edit: ["edit", "apply_patch"],
	write: ["write"],
	bash: ["bash"],
	web: ["webfetch", "websearch"],
} as const satisfies Record<string, readonly EngineTool[]>;

/** On unless turned off: they act only on the conversation and the sidecar serves them. */
export const DEFAULT_ON = { todo: "todowrite", question: "question" } as const satisfies Record<string, EngineTool>;

/** Never on: a sub-agent would not inherit the session's tool restrictions. */
export const NEVER_ON: readonly EngineTool[] = ["task"];

/** Tools that can change files: off for read-only agents (`plan`) whatever the list says. */
export const WRITING_TOOLS: readonly EngineTool[] = ["edit", "apply_patch", "write", "bash"];

const OFF_SWITCHES = Object.keys(DEFAULT_ON).flatMap((k) => [`-${k}`, `-${DEFAULT_ON[k as keyof typeof DEFAULT_ON]}`]);

/** Every name `enabled_tools` accepts (the request schema lists them). */
export const TOOL_NAMES = [
	...new Set([...Object.keys(CAPABILITIES), ...ENGINE_TOOLS.filter((t) => !NEVER_ON.includes(t)), ...OFF_SWITCHES]),
];

/** A name the schema accepts but the sidecar will not turn on, with the reason (for a 400). */
export function refusedTool(names: readonly string[]): { name: string; reason: string } | undefined {
	const name = names.find((n) => NEVER_ON.includes(n as EngineTool));
	return name === undefined
		? undefined
		: { name, reason: `${name} (sub-agents) is not offered: a sub-agent would not keep this session's tool limits` };
}

/**
 * The engine's per-prompt `tools` map for a session's `enabled_tools`: every
 * known tool on or off. `readOnly`: the agent may not change files (see WRITING_TOOLS).
 */
export function toolSwitches(enabled: readonly string[], readOnly = false): Record<string, boolean> {
	const on = new Set<string>(Object.values(DEFAULT_ON));
	for (const name of enabled) {
		if (name in CAPABILITIES) for (const t of CAPABILITIES[name as keyof typeof CAPABILITIES]) on.add(t);
		else if (!name.startsWith("-")) on.add(name);
	}
	for (const name of enabled) {
		if (!name.startsWith("-")) continue;
		const key = name.slice(1);
		on.delete(DEFAULT_ON[key as keyof typeof DEFAULT_ON] ?? key);
	}
	for (const t of NEVER_ON) on.delete(t);
	if (readOnly) for (const t of WRITING_TOOLS) on.delete(t);
	return Object.fromEntries(ENGINE_TOOLS.map((t) => [t, on.has(t)]));
}
