/**
 * Tool ids the engine (opencode 1.18.33) offers the agent, as listed by its
 * `GET /experimental/tool/ids` (minus its internal `invalid`). A session's
 * `enabled_tools` must name tools from this list; every other tool is turned
 * off for that session. An end-to-end test checks this list against the engine.
 */
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

/** The engine's per-prompt `tools` map: every known tool on or off. */
export function toolSwitches(enabled: readonly string[]): Record<string, boolean> {
	const on = new Set(enabled);
	return Object.fromEntries(ENGINE_TOOLS.map((t) => [t, on.has(t)]));
}
