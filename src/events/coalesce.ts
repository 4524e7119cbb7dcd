import type { LoggedEvent } from "./catalogue";

/** Live text whose consecutive pieces read the same joined: assistant text, reasoning, a tool's output. */
const JOINABLE = new Set(["assistant", "reasoning", "tool"]);

/**
 * One `output` event holding `a`'s text followed by `b`'s, when both are
 * pieces of the same stream (same type, source, tool and call); undefined
 * otherwise. Clients append `output` text, so they read the same thing either
 * way. The joined event keeps `a`'s timestamp: when its text began.
 */
export function joinOutputs(a: LoggedEvent, b: LoggedEvent): LoggedEvent | undefined {
	if (a.event !== "output" || b.event !== "output") return undefined;
	const x = a.data;
	const y = b.data;
	if (x.type !== y.type || x.source !== y.source || !JOINABLE.has(x.source)) return undefined;
	if (x.tool !== y.tool || x.call_id !== y.call_id) return undefined;
	return { event: "output", data: { ...x, text: x.text + y.text } };
}
