import type { FeedFrame } from "../adapter";
import { type EngineEvent, isObject, type Json, num, str } from "../events";
import { engineError } from "./errors";
import { questionsOfForm } from "./forms";
import { contractToolInput, contractToolName } from "./tool-names";

/**
 * OpenCode 2.x's `/api/event` frames onto the port's event vocabulary (engine/events.ts, 1.x
 * shaped). Per generation, because 2.x reports a run as a stream of facts (a step started,
 * text deltas by ordinal, a tool called by call id, a step ended with its tokens) where 1.x
 * sent snapshots of messages and parts; the sessions' translation (translate.ts, tool-part.ts,
 * reconcile.ts) stays shared so that the contract's events do not depend on the engine.
 *
 * Ids of the synthesized parts are derived from 2.x's own (assistant message id, text
 * ordinal, tool call id) so that a reconciliation from the message list (messages.ts) names
 * the same parts as the feed did. Pure but stateful: a tool's name and input arrive in
 * earlier frames than its result, so one mapper follows one engine process's feed.
 */

/** A text or reasoning part's id: its message and its ordinal in that message. */
export const textPartId = (messageID: string, kind: "text" | "reasoning", ordinal: number): string =>
	`${messageID}:${kind === "text" ? "t" : "r"}${ordinal}`;
export const stepFinishId = (messageID: string): string => `${messageID}:finish`;
export const patchId = (messageID: string): string => `${messageID}:patch`;

interface ToolCall {
	readonly sessionID: string;
	readonly messageID: string;
	readonly engineName: string;
	input: Json;
}

/** How many tool calls are remembered at most (a call whose result never came is dropped oldest first). */
const TOOL_MEMORY = 1000;

export class FeedMapper {
	private readonly tools = new Map<string, ToolCall>();

	/** `directory`: the workspace; frames of other locations are dropped. */
	constructor(private readonly directory: string) {}

	/** One SSE `data` payload of `/api/event`. */
	read(data: string): FeedFrame {
		let frame: unknown;
		try {
			frame = JSON.parse(data);
		} catch {
			return undefined;
		}
		if (!isObject(frame)) return undefined;
		const type = str(frame.type);
		if (!type) return undefined;
		if (type === "server.connected") return { kind: "connected" };
		const location = isObject(frame.location) ? str(frame.location.directory) : undefined;
		if (location !== undefined && location !== this.directory) return undefined;
		const events = this.map(type, isObject(frame.data) ? frame.data : {}, num(frame.created));
		return events.length === 0 ? undefined : { kind: "event", events };
	}

	/** One frame's type and data as port events (none for frames the sessions do not read). */
	map(type: string, d: Json, created?: number): EngineEvent[] {
		const sessionID = str(d.sessionID) ?? "";
		const messageID = str(d.assistantMessageID) ?? "";
		const ev = (t: string, properties: Json): EngineEvent => ({ type: t, properties: { sessionID, ...properties } });
		switch (type) {
			case "session.created": {
				const parentID = str(d.parentID);
				return [ev("session.created", { info: { id: sessionID, ...(parentID ? { parentID } : {}) } })];
			}
			case "session.execution.started":
				return [ev("session.status", { status: { type: "busy" } })];
			case "session.execution.succeeded":
				this.forget(sessionID);
				return [ev("session.idle", {})];
			case "session.execution.interrupted":
				this.forget(sessionID);
				return [ev("session.error", { error: { name: "MessageAbortedError", data: {} } }), ev("session.idle", {})];
			case "session.execution.failed":
				this.forget(sessionID);
				return [ev("session.error", { error: engineError(d.error) }), ev("session.idle", {})];
			case "session.retry.scheduled": {
				const error = isObject(d.error) ? d.error : {};
				const at = num(d.at) ?? (num(d.delayMs) !== undefined && created ? created + (num(d.delayMs) ?? 0) : undefined);
				return [
					ev("session.status", {
						status: {
							type: "retry",
							message: str(error.message) ?? str(d.message) ?? "provider asked to retry",
							...(num(d.attempt) === undefined ? {} : { attempt: num(d.attempt) }),
							...(at === undefined ? {} : { next: at }),
						},
					}),
				];
			}
			case "session.step.started":
				return [message(sessionID, messageID, { created: num(d.started) ?? created ?? 0 })];
			case "session.step.ended":
				return this.stepEnded(sessionID, messageID, d, created);
			case "session.step.failed":
				return [
					message(
						sessionID,
						messageID,
						{ created: created ?? 0, completed: created ?? 0 },
						{
							error: engineError(d.error),
						},
					),
				];
			case "session.text.started":
			case "session.reasoning.started":
			case "session.text.ended":
			case "session.reasoning.ended": {
				const kind = type.startsWith("session.text") ? "text" : "reasoning";
				const id = textPartId(messageID, kind, num(d.ordinal) ?? 0);
				return [
					ev("message.part.updated", { part: { id, sessionID, messageID, type: kind, text: str(d.text) ?? "" } }),
				];
			}
			case "session.text.delta":
			case "session.reasoning.delta": {
				const kind = type.startsWith("session.text") ? "text" : "reasoning";
				const partID = textPartId(messageID, kind, num(d.ordinal) ?? 0);
				return [ev("message.part.delta", { messageID, partID, field: "text", delta: str(d.delta) ?? "" })];
			}
			case "session.tool.input.started":
				this.remember(str(d.id), { sessionID, messageID, engineName: str(d.name) ?? "unknown", input: {} });
				return [];
			case "session.tool.called":
				return this.toolUpdate(d, (call) => {
					if (isObject(d.input)) call.input = d.input;
					return { status: "running", input: this.inputOf(call), metadata: {} };
				});
			case "session.tool.progress":
				return this.toolUpdate(d, (call) => ({
					status: "running",
					input: this.inputOf(call),
					metadata: { ...(isObject(d.metadata) ? d.metadata : {}), ...liveOutput(d) },
				}));
			case "session.tool.success": {
				const output = toolOutput(d.content) ?? str(d.output) ?? "";
				const metadata = isObject(d.metadata) ? d.metadata : {};
				// 2.1.2 reports no live output of a shell command (its progress names only a shell id): the
				// whole output comes as the tool's output when it ends, as 1.x's last live update would have.
				const shell = this.tools.get(str(d.id) ?? "")?.engineName === "shell";
				return [
					...(shell
						? this.toolUpdate(d, (call) => ({ status: "running", input: this.inputOf(call), metadata: { output } }))
						: []),
					...this.toolUpdate(
						d,
						(call) => ({
							status: "completed",
							input: this.inputOf(call),
							output,
							title: str(d.title) ?? "",
							metadata: shell ? { ...metadata, output } : metadata,
						}),
						true,
					),
				];
			}
			case "session.tool.failed":
				return this.toolUpdate(
					d,
					(call) => ({
						status: "error",
						input: this.inputOf(call),
						error: isObject(d.error) ? (str(d.error.message) ?? "tool failed") : (str(d.error) ?? "tool failed"),
					}),
					true,
				);
			case "permission.asked":
				return [{ type: "permission.asked", properties: permissionAsked(d) }];
			case "form.created": {
				const form = isObject(d.form) ? d.form : d;
				const id = str(form.id);
				if (!id) return [];
				return [
					{
						type: "question.asked",
						properties: { id, sessionID: str(form.sessionID) ?? sessionID, questions: questionsOfForm(form) },
					},
				];
			}
			default:
				return [];
		}
	}

	private stepEnded(sessionID: string, messageID: string, d: Json, created: number | undefined): EngineEvent[] {
		const part = (p: Json): EngineEvent => ({
			type: "message.part.updated",
			properties: { sessionID, part: { sessionID, messageID, ...p } },
		});
		const files = Array.isArray(d.files) ? d.files.filter((f) => typeof f === "string") : [];
		const finish = str(d.finish);
		return [
			part({ id: stepFinishId(messageID), type: "step-finish", tokens: d.tokens, cost: d.cost }),
			...(files.length > 0 ? [part({ id: patchId(messageID), type: "patch", files })] : []),
			// The message's creation time is the translator's from `session.step.started`; only its end is new.
			message(sessionID, messageID, { created: 0, completed: created ?? 0 }, finish ? { finish } : {}),
		];
	}

	private inputOf(call: ToolCall): Json {
		return contractToolInput(call.engineName, call.input);
	}

	private toolUpdate(d: Json, state: (call: ToolCall) => Json, last = false): EngineEvent[] {
		const callID = str(d.id);
		const call = callID === undefined ? undefined : this.tools.get(callID);
		if (!callID || !call) return [];
		if (last) this.tools.delete(callID);
		const part = {
			id: callID,
			callID,
			sessionID: call.sessionID,
			messageID: call.messageID,
			type: "tool",
			tool: contractToolName(call.engineName),
			state: state(call),
		};
		return [{ type: "message.part.updated", properties: { sessionID: call.sessionID, part } }];
	}

	private remember(callID: string | undefined, call: ToolCall): void {
		if (!callID) return;
		if (this.tools.size >= TOOL_MEMORY) {
			const oldest = this.tools.keys().next().value;
			if (oldest !== undefined) this.tools.delete(oldest);
		}
		this.tools.set(callID, call);
	}

	/** A run ended: calls of that session that never reported a result are not waited for any more. */
	private forget(sessionID: string): void {
		for (const [id, call] of this.tools) if (call.sessionID === sessionID) this.tools.delete(id);
	}
}

/** A `message.updated` of an assistant message (time and the fields given). */
function message(sessionID: string, id: string, time: Json, extra: Json = {}): EngineEvent {
	return {
		type: "message.updated",
		properties: { sessionID, info: { id, sessionID, role: "assistant", time, ...extra } },
	};
}

/** A tool's text content (2.x: a list of text and file items). */
export function toolOutput(content: unknown): string | undefined {
	if (!Array.isArray(content)) return undefined;
	const texts = content.filter(isObject).flatMap((c) => (str(c.type) === "text" ? [str(c.text) ?? ""] : []));
	return texts.length === 0 ? undefined : texts.join("\n");
}

/** A running tool's live output, as 1.x kept it in `metadata.output`. */
function liveOutput(d: Json): Json {
	const metadata = isObject(d.metadata) ? d.metadata : {};
	const output = str(metadata.output) ?? toolOutput(d.content) ?? str(d.output);
	return output === undefined ? {} : { output };
}

/** A 2.x permission request as 1.x's: `permission` (the contract's tool name), `patterns`, path metadata. */
export function permissionAsked(d: Json): Json {
	const metadata = isObject(d.metadata) ? d.metadata : {};
	const resources = Array.isArray(d.resources) ? d.resources.filter((r) => typeof r === "string") : [];
	const action = str(d.action) ?? "unknown";
	return {
		id: str(d.id) ?? "",
		sessionID: str(d.sessionID) ?? "",
		permission: contractToolName(action),
		patterns: resources,
		metadata: {
			...metadata,
			...(str(metadata.filepath) === undefined && str(metadata.path) !== undefined ? { filepath: metadata.path } : {}),
		},
	};
}
