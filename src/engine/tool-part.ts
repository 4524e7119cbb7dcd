import type { LoggedEvent } from "../events/catalogue";
import { isObject, type Json, str } from "./events";

/** Tools whose input names the one file they change. */
const EDITING_TOOLS = new Set(["write", "edit", "multiedit"]);
/**
 * Tools that may change any file. The engine's `patch` part lists what changed
 * in the workspace during a step, including other sessions' concurrent changes
 * to the shared workspace, so its files are attributed to this session only
 * for steps where one of these ran.
 */
export const BROAD_TOOLS = new Set(["bash", "apply_patch", "task"]);

/** What the translator keeps of one tool part between its updates. */
export interface ToolPartState {
	readonly messageID: string;
	/** Characters of live tool output already emitted. */
	emitted: number;
	callAnnounced: boolean;
	resultAnnounced: boolean;
}

/** What a tool part tells the translator about its step. */
export interface ToolStep {
	/** A broad tool ran in this step (assistant message). */
	broad(messageID: string): void;
	/** A file was changed by an editing tool. */
	noteFile(path: string): void;
	/** Scrubs secrets out of text that came from outside. */
	redact(text: string): string;
}

/** One update of a tool part: its call (once), live output, and its result (once). */
export function translateTool(
	part: Json,
	state: ToolPartState,
	events: LoggedEvent[],
	timestamp: string,
	step: ToolStep,
): void {
	const tool = str(part.tool) ?? "unknown";
	const callID = str(part.callID) ?? str(part.id) ?? "";
	const s = isObject(part.state) ? part.state : {};
	const status = str(s.status);
	const input = isObject(s.input) ? s.input : {};
	if (status === "pending" || status === undefined) return;
	if (BROAD_TOOLS.has(tool)) step.broad(state.messageID);
	if (!state.callAnnounced) {
		state.callAnnounced = true;
		events.push({
			event: "tool_call",
			data: { tool, args: input, call_id: callID, timestamp },
		});
	}
	const metadata = isObject(s.metadata) ? s.metadata : {};
	const live = str(metadata.output);
	if (status === "running" && live !== undefined && live.length > state.emitted) {
		const delta = live.slice(state.emitted);
		state.emitted = live.length;
		events.push({
			event: "output",
			data: {
				type: "stdout",
				text: delta,
				source: "tool",
				tool,
				call_id: callID,
				timestamp,
			},
		});
	}
	if ((status === "completed" || status === "error") && !state.resultAnnounced) {
		state.resultAnnounced = true;
		if (status === "completed") {
			if (EDITING_TOOLS.has(tool)) {
				const path = str(input.filePath) ?? str(input.path);
				if (path) step.noteFile(path);
			}
			const { output: _duplicate, ...rest } = metadata;
			events.push({
				event: "tool_result",
				data: {
					tool,
					result: {
						output: str(s.output) ?? "",
						title: str(s.title) ?? "",
						metadata: rest,
					},
					call_id: callID,
					is_error: false,
					timestamp,
				},
			});
		} else {
			const error = step.redact(str(s.error) ?? "tool failed");
			events.push({
				event: "output",
				data: {
					type: "stderr",
					text: error,
					source: "tool",
					tool,
					call_id: callID,
					timestamp,
				},
			});
			events.push({
				event: "tool_result",
				data: {
					tool,
					result: { error },
					call_id: callID,
					is_error: true,
					timestamp,
				},
			});
		}
	}
}
