import { createOpencodeClient, type OpencodeClient } from "@opencode-ai/sdk/v2/client";
import type { Clock } from "../../lib/clock";
import type { EngineApi } from "../adapter";
import { boundedCall } from "../bounded-call";
import type { EngineAgent, EngineSessionState, PromptInput, SessionSettings } from "../engine";

/**
 * The 1.x engine's HTTP API through its SDK (`@opencode-ai/sdk`), bound to one process (base URL and
 * password) and the workspace directory. Every call is bounded by
 * `timeoutMs` on the injected clock and aborted when it runs out.
 */
export class EngineClient implements EngineApi {
	private readonly sdk: OpencodeClient;

	constructor(
		readonly base: string,
		readonly authorization: string,
		private readonly directory: string,
		private readonly clock: Clock,
		private readonly timeoutMs: number,
	) {
		this.sdk = createOpencodeClient({ baseUrl: base, headers: { authorization }, directory });
	}

	private bounded<T>(what: string, call: (signal: AbortSignal) => Promise<T>, ms = this.timeoutMs): Promise<T> {
		return boundedCall(this.clock, ms, what, call);
	}

	/** GET /global/health within `ms`: true only for a `healthy: true` answer. */
	async health(ms: number): Promise<boolean> {
		try {
			const res = await this.bounded("health", (signal) => this.sdk.global.health({ signal }), ms);
			return res.data?.healthy === true;
		} catch {
			return false;
		}
	}

	/** 1.x takes the run settings with each prompt, not here. */
	async createSession(title: string, _settings?: SessionSettings, timeoutMs = this.timeoutMs): Promise<string> {
		const res = await this.bounded(
			"session.create",
			(signal) => this.sdk.session.create({ title, directory: this.directory }, { throwOnError: true, signal }),
			timeoutMs,
		);
		return res.data.id;
	}

	async prompt(sessionID: string, input: PromptInput, timeoutMs = this.timeoutMs): Promise<void> {
		await this.bounded(
			"session.promptAsync",
			(signal) =>
				this.sdk.session.promptAsync(
					{
						sessionID,
						directory: this.directory,
						parts: [{ type: "text", text: input.text }],
						model: input.model,
						tools: input.tools,
						...(input.agent === undefined ? {} : { agent: input.agent }),
						...(input.system === undefined ? {} : { system: input.system }),
					},
					{ throwOnError: true, signal },
				),
			timeoutMs,
		);
	}

	async abort(sessionID: string): Promise<void> {
		await this.bounded("session.abort", (signal) =>
			this.sdk.session.abort({ sessionID, directory: this.directory }, { throwOnError: true, signal }),
		);
	}

	async deleteSession(sessionID: string): Promise<void> {
		await this.bounded("session.delete", (signal) =>
			this.sdk.session.delete({ sessionID, directory: this.directory }, { throwOnError: true, signal }),
		);
	}

	async agents(): Promise<EngineAgent[]> {
		const res = await this.bounded("app.agents", (signal) =>
			this.sdk.app.agents({ directory: this.directory }, { throwOnError: true, signal }),
		);
		return res.data;
	}

	async parentOf(sessionID: string): Promise<string | undefined> {
		const res = await this.bounded("session.get", (signal) =>
			this.sdk.session.get({ sessionID, directory: this.directory }, { signal }),
		);
		return res.data?.parentID;
	}

	async messages(sessionID: string): Promise<unknown[]> {
		const res = await this.bounded("session.messages", (signal) =>
			this.sdk.session.messages({ sessionID, directory: this.directory }, { throwOnError: true, signal }),
		);
		return (res.data ?? []) as unknown[];
	}

	/** Status, messages and todos of one session, for reconciliation. */
	async sessionState(sessionID: string): Promise<EngineSessionState> {
		const [statuses, messages, todos] = await Promise.all([
			this.bounded("session.status", (signal) =>
				this.sdk.session.status({ directory: this.directory }, { throwOnError: true, signal }),
			),
			this.messages(sessionID),
			this.bounded("session.todo", (signal) =>
				this.sdk.session.todo({ sessionID, directory: this.directory }, { throwOnError: true, signal }),
			),
		]);
		const status = (statuses.data as Record<string, { type?: string } | undefined>)[sessionID]?.type ?? "idle";
		return { status, messages, todos: (todos.data ?? []) as unknown[] };
	}

	/** Permission requests and questions the engine is waiting on, across sessions. */
	async pendingRequests(): Promise<{ permissions: unknown[]; questions: unknown[] }> {
		const [permissions, questions] = await Promise.all([
			this.bounded("permission.list", (signal) =>
				this.sdk.permission.list({ directory: this.directory }, { throwOnError: true, signal }),
			),
			this.bounded("question.list", (signal) =>
				this.sdk.question.list({ directory: this.directory }, { throwOnError: true, signal }),
			),
		]);
		return {
			permissions: (permissions.data ?? []) as unknown[],
			questions: (questions.data ?? []) as unknown[],
		};
	}

	async replyPermission(requestID: string, reply: "once" | "always" | "reject", message?: string): Promise<void> {
		await this.bounded("permission.reply", (signal) =>
			this.sdk.permission.reply(
				{ requestID, reply, ...(message ? { message } : {}), directory: this.directory },
				{ throwOnError: true, signal },
			),
		);
	}

	async replyQuestion(requestID: string, answers: string[][]): Promise<void> {
		await this.bounded("question.reply", (signal) =>
			this.sdk.question.reply({ requestID, answers, directory: this.directory }, { throwOnError: true, signal }),
		);
	}
}
