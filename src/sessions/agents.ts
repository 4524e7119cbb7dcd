import type { Engine, EngineAgent } from "../engine/engine";
import { EngineUnavailable, ValidationFailed } from "../http/errors";
import type { Clock } from "../lib/clock";
import { TimedOut, withTimeout } from "../lib/timeout";

/** An agent a request named, as the run uses it. */
export interface ChosenAgent {
	readonly name: string;
	/** Its permissions deny edits: the run gets no tool that writes files. */
	readonly readOnly: boolean;
}

/** Agents a prompt may name: the engine's primary ones (sub-agents run under `task`; hidden ones are internal). */
export const selectable = (a: EngineAgent): boolean => a.mode !== "subagent" && a.hidden !== true;

/** An agent whose own rules deny every edit (the engine's `plan`, or a custom read-only one). */
export function deniesEdits(agent: EngineAgent): boolean {
	const rules = Array.isArray(agent.permission) ? (agent.permission as Record<string, unknown>[]) : [];
	return rules.some((r) => r.permission === "edit" && r.pattern === "*" && r.action === "deny");
}

/**
 * The `agent` of a request, checked against the engine's list for the
 * workspace (asked each time: `.opencode/agent/` may change between runs).
 */
export class AgentCatalogue {
	constructor(
		private readonly engine: Pick<Engine, "ready" | "notReadyReason" | "agents">,
		private readonly timeoutMs: number,
		private readonly clock: Clock,
	) {}

	async choose(name: string, field = "agent"): Promise<ChosenAgent> {
		if (!this.engine.ready) throw new EngineUnavailable(this.engine.notReadyReason ?? "not ready");
		const all = await withTimeout(this.clock, this.timeoutMs, this.engine.agents()).catch((error: unknown) => {
			throw error instanceof TimedOut ? new EngineUnavailable("the engine did not list its agents") : error;
		});
		const usable = all.filter(selectable);
		const agent = usable.find((a) => a.name === name);
		if (!agent) throw new ValidationFailed(field, `must be one of: ${usable.map((a) => a.name).join(", ")}`);
		return { name: agent.name, readOnly: deniesEdits(agent) };
	}
}
