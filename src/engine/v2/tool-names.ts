import type { PermissionRule } from "./gen";

/**
 * Tool names per generation. The sessions speak the contract's tool ids (those of OpenCode
 * 1.x, engine/tools.ts: `bash`, `write {filePath}`, `todowrite`, `task`, …); OpenCode 2.1.2
 * offers `shell` for `bash`, `subagent` for `task`, a code-running `execute`, takes `path`
 * where 1.x took `filePath`, and has no `todowrite` nor `apply_patch`. This file maps both
 * ways: the sessions' switches onto 2.x permission rules (2.x has no per-prompt tool
 * switches), and 2.x's tool calls back onto the contract's names and arguments, so a backend
 * sees the same `tool_call` events whatever the engine. Pure.
 */

/** 2.x tool → the contract's (1.x) name; tools not listed keep their name. */
const TO_CONTRACT: Readonly<Record<string, string>> = { shell: "bash", subagent: "task" };

/** The contract's tool → the 2.x tools it stands for (empty: 2.x has no such tool). */
const TO_ENGINE: Readonly<Record<string, readonly string[]>> = {
	bash: ["shell", "execute"],
	task: ["subagent"],
	todowrite: [],
	apply_patch: [],
};

/** The 2.x tools that the sidecar never names in a rule stay as the engine's configuration has them. */
export const V2_TOOLS = [
	"edit",
	"execute",
	"glob",
	"grep",
	"question",
	"read",
	"shell",
	"skill",
	"subagent",
	"webfetch",
	"websearch",
	"write",
] as const;

/** The contract's name of a 2.x tool. */
export const contractToolName = (engineTool: string): string => TO_CONTRACT[engineTool] ?? engineTool;

/** The 2.x tools behind one of the contract's tool ids. */
export const engineToolsOf = (contractTool: string): readonly string[] => TO_ENGINE[contractTool] ?? [contractTool];

/** Tools whose 2.x input names a file by `path` (1.x: `filePath`). */
const PATH_TOOLS = new Set(["read", "write", "edit"]);

/** A 2.x tool call's input as the contract shows it (1.x argument names). */
export function contractToolInput(engineTool: string, input: Record<string, unknown>): Record<string, unknown> {
	if (!PATH_TOOLS.has(engineTool) || typeof input.path !== "string" || "filePath" in input) return input;
	const { path, ...rest } = input;
	return { filePath: path, ...rest };
}

/**
 * The session's permission rules for the sessions' tool switches (1.x names, engine/tools.ts):
 * each 2.x tool that no switched-on tool stands for is denied. Later rules win in 2.x as in 1.x,
 * so these come after the engine configuration's own.
 */
export function toolRules(switches: Readonly<Record<string, boolean>>): PermissionRule[] {
	const on = new Set<string>();
	for (const [tool, enabled] of Object.entries(switches)) if (enabled) for (const t of engineToolsOf(tool)) on.add(t);
	return V2_TOOLS.filter((t) => !on.has(t)).map((action) => ({ action, resource: "*", effect: "deny" }));
}
