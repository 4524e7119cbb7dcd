import type { Clock } from "../../lib/clock";
import type { EngineApi } from "../adapter";
import { boundedCall } from "../bounded-call";
import type { EngineAgent, EngineSessionState, PromptInput, SessionSettings } from "../engine";
import { isObject, type Json, str } from "../events";
import { permissionAsked } from "./feed-map";
import { formAnswer, questionsOfForm } from "./forms";
import {
	agentList,
	experimentalSessionInstructionsEntryPut,
	formList,
	permissionRequestList,
	serverInfo,
	sessionActive,
	sessionCreate,
	sessionFormReply,
	sessionGet,
	sessionInterrupt,
	sessionMessageList,
	sessionPermissionReply,
	sessionPrompt,
	sessionRemove,
	sessionSwitchAgent,
	sessionSwitchModel,
	sessionUpdate,
} from "./gen";
import { type Client, createClient } from "./gen/client";
import { messagesAsV1 } from "./messages";
import { contractToolName, toolRules } from "./tool-names";

/** The instructions entry that holds a session's `system_prompt` (2.x's only per-session system text). */
export const SYSTEM_ENTRY = "sidecar-system-prompt";
/** Messages read per page of the message list (the engine's own default is smaller). */
const PAGE = "200";

/**
 * The 2.x engine's HTTP API (`/api/*`) through the client generated from its own OpenAPI
 * document (gen/), bound to one process and the workspace. 2.x takes a session's model,
 * agent and tool permissions when the session is created, not per prompt (`SessionSettings`),
 * and identifies a permission request or a form by its session too: the request's session is
 * read from the engine's list of pending ones. Every call is bounded by `timeoutMs`.
 */
export class EngineClientV2 implements EngineApi {
	private readonly client: Client;
	/** The settings each session was last given (by this process's client), to give changed ones before a prompt. */
	private readonly applied = new Map<string, string>();

	constructor(
		readonly base: string,
		readonly authorization: string,
		private readonly directory: string,
		private readonly clock: Clock,
		private readonly timeoutMs: number,
	) {
		this.client = createClient({ baseUrl: base, headers: { authorization } });
	}

	private bounded<T>(what: string, call: (signal: AbortSignal) => Promise<T>, ms = this.timeoutMs): Promise<T> {
		return boundedCall(this.clock, ms, what, call);
	}

	private get location() {
		return { location: { directory: this.directory } };
	}

	/** GET /api/info within `ms`: true for an answer naming a version. */
	async health(ms: number): Promise<boolean> {
		try {
			const res = await this.bounded("server.info", (signal) => serverInfo({ client: this.client, signal }), ms);
			return typeof res.data?.version === "string";
		} catch {
			return false;
		}
	}

	async createSession(title: string, settings: SessionSettings, timeoutMs = this.timeoutMs): Promise<string> {
		const res = await this.bounded(
			"session.create",
			(signal) =>
				sessionCreate({
					client: this.client,
					signal,
					throwOnError: true,
					body: {
						title,
						location: { directory: this.directory },
						model: { id: settings.model.modelID, providerID: settings.model.providerID },
						...(settings.agent === undefined ? {} : { agent: settings.agent }),
						permissions: toolRules(settings.tools),
					},
				}),
			timeoutMs,
		);
		const id = res.data.data.id;
		if (settings.system !== undefined) await this.putSystem(id, settings.system);
		this.applied.set(id, JSON.stringify(settings));
		return id;
	}

	/**
	 * The text; the settings were given when the session was created. A follow-up may change them
	 * (another agent), and a new sidecar process does not know what the engine holds: then they are
	 * given again (agent, model, tool permissions, system prompt) before the prompt.
	 */
	async prompt(sessionID: string, input: PromptInput, timeoutMs = this.timeoutMs): Promise<void> {
		const { text, ...settings } = input;
		if (this.applied.get(sessionID) !== JSON.stringify(settings)) await this.reapply(sessionID, settings);
		// The first prompt in a location answers after 2.x's lazy set-up of it (seconds): the warm-up's prompt.
		await this.bounded(
			"session.prompt",
			(signal) =>
				sessionPrompt({ client: this.client, signal, throwOnError: true, path: { sessionID }, body: { text } }),
			timeoutMs,
		);
	}

	private async reapply(sessionID: string, settings: SessionSettings): Promise<void> {
		const client = this.client;
		const path = { sessionID };
		await this.bounded("session.agent", (signal) =>
			sessionSwitchAgent({ client, signal, throwOnError: true, path, body: { agent: settings.agent ?? "build" } }),
		);
		const model = { id: settings.model.modelID, providerID: settings.model.providerID };
		await this.bounded("session.model", (signal) =>
			sessionSwitchModel({ client, signal, throwOnError: true, path, body: { model } }),
		);
		await this.bounded("session.update", (signal) =>
			sessionUpdate({ client, signal, throwOnError: true, path, body: { permissions: toolRules(settings.tools) } }),
		);
		// An empty entry when there is no system prompt (any earlier one is overwritten).
		await this.putSystem(sessionID, settings.system ?? "");
		this.applied.set(sessionID, JSON.stringify(settings));
	}

	private async putSystem(sessionID: string, system: string): Promise<void> {
		await this.bounded("session.instructions.put", (signal) =>
			experimentalSessionInstructionsEntryPut({
				client: this.client,
				signal,
				throwOnError: true,
				path: { sessionID, key: SYSTEM_ENTRY },
				body: { value: system },
			}),
		);
	}

	async abort(sessionID: string): Promise<void> {
		await this.bounded("session.interrupt", (signal) =>
			sessionInterrupt({ client: this.client, signal, throwOnError: true, path: { sessionID } }),
		);
	}

	async deleteSession(sessionID: string): Promise<void> {
		this.applied.delete(sessionID);
		await this.bounded("session.remove", (signal) =>
			sessionRemove({ client: this.client, signal, throwOnError: true, path: { sessionID } }),
		);
	}

	async agents(): Promise<EngineAgent[]> {
		const res = await this.bounded("agent.list", (signal) =>
			agentList({ client: this.client, signal, throwOnError: true, query: this.location }),
		);
		return res.data.data.map((a) => ({
			name: a.id,
			mode: a.mode,
			hidden: a.hidden,
			...(a.description === undefined ? {} : { description: a.description }),
			// As 1.x lists rules (`{permission, pattern, action}`), which the sessions read (sessions/agents.ts).
			permission: a.permissions.map((r) => ({
				permission: contractToolName(r.action),
				pattern: r.resource,
				action: r.effect,
			})),
		}));
	}

	async parentOf(sessionID: string): Promise<string | undefined> {
		const res = await this.bounded("session.get", (signal) =>
			sessionGet({ client: this.client, signal, path: { sessionID } }),
		);
		return res.data?.data.parentID;
	}

	/** Every message, oldest first, as 1.x's `{info, parts}` (messages.ts). */
	async messages(sessionID: string): Promise<unknown[]> {
		const all: unknown[] = [];
		let cursor: string | undefined;
		do {
			const page = cursor;
			const res = await this.bounded("session.message.list", (signal) =>
				sessionMessageList({
					client: this.client,
					signal,
					throwOnError: true,
					path: { sessionID },
					query: page === undefined ? { order: "asc", limit: PAGE } : { cursor: page, limit: PAGE },
				}),
			);
			all.push(...res.data.data);
			// The last page still names a next cursor (2.1.2): a short page is the end.
			cursor = res.data.data.length < Number(PAGE) ? undefined : (res.data.cursor.next ?? undefined);
		} while (cursor !== undefined);
		return messagesAsV1(sessionID, all);
	}

	/** Status and messages (2.x keeps no todo list the sidecar can read: `todos` is empty). */
	async sessionState(sessionID: string): Promise<EngineSessionState> {
		const [active, messages] = await Promise.all([
			this.bounded("session.active", (signal) => sessionActive({ client: this.client, signal, throwOnError: true })),
			this.messages(sessionID),
		]);
		const type = (active.data.data as Record<string, { type?: string } | undefined>)[sessionID]?.type;
		return { status: type === undefined ? "idle" : "busy", messages, todos: [] };
	}

	/** Permission requests and forms the engine waits on, as 1.x's `permission.asked` and `question.asked`. */
	async pendingRequests(): Promise<{ permissions: unknown[]; questions: unknown[] }> {
		const [permissions, forms] = await Promise.all([this.permissionRequests(), this.forms()]);
		return {
			permissions: permissions.map(permissionAsked),
			questions: forms.map((f) => ({ id: str(f.id), sessionID: str(f.sessionID), questions: questionsOfForm(f) })),
		};
	}

	async replyPermission(requestID: string, reply: "once" | "always" | "reject", message?: string): Promise<void> {
		const request = (await this.permissionRequests()).find((r) => r.id === requestID);
		const sessionID = str(request?.sessionID);
		if (!sessionID) throw new Error(`the engine has no pending permission request ${requestID}`);
		await this.bounded("session.permission.reply", (signal) =>
			sessionPermissionReply({
				client: this.client,
				signal,
				throwOnError: true,
				path: { sessionID, requestID },
				body: { decision: reply, ...(message ? { message } : {}) },
			}),
		);
	}

	async replyQuestion(formID: string, answers: string[][]): Promise<void> {
		const form = (await this.forms()).find((f) => f.id === formID);
		const sessionID = str(form?.sessionID);
		if (!form || !sessionID) throw new Error(`the engine has no pending form ${formID}`);
		await this.bounded("session.form.reply", (signal) =>
			sessionFormReply({
				client: this.client,
				signal,
				throwOnError: true,
				path: { sessionID, formID },
				body: { answer: formAnswer(form, answers) },
			}),
		);
	}

	private async permissionRequests(): Promise<Json[]> {
		const res = await this.bounded("permission.request.list", (signal) =>
			permissionRequestList({ client: this.client, signal, throwOnError: true, query: this.location }),
		);
		return listOf(res.data);
	}

	private async forms(): Promise<Json[]> {
		const res = await this.bounded("form.list", (signal) =>
			formList({ client: this.client, signal, throwOnError: true, query: this.location }),
		);
		return listOf(res.data);
	}
}

/** A list answer's items (`{data: [...]}`, or the list itself). */
function listOf(body: unknown): Json[] {
	const list = isObject(body) ? body.data : body;
	return (Array.isArray(list) ? list : []).filter(isObject);
}
