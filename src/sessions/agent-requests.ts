import type { Config } from "../config/parse";
import type { Engine } from "../engine/engine";
import { type EngineEvent, isObject, str } from "../engine/events";
import { ValidationFailed } from "../http/errors";
import type { Cancel, Clock } from "../lib/clock";
import { isoTime } from "../lib/clock";
import type { Logger } from "../lib/log";
import { QuestionNotFound } from "./errors";
import { decidePermission } from "./permission-policy";
import { answersProblem, defaultAnswers, parseQuestions, type Question } from "./questions";
import type { Session } from "./session";

export interface AgentRequestsDeps {
	readonly config: Pick<Config, "permissionPolicy" | "workspaceDir" | "questionTimeoutMs">;
	readonly engine: Pick<Engine, "replyPermission" | "replyQuestion">;
	readonly clock: Clock;
	readonly log: Logger;
}

interface OpenQuestion {
	readonly session: Session;
	readonly questions: Question[];
	readonly cancelTimer: Cancel;
}

/**
 * What the agent asks of a person, answered so that no run ever waits for
 * one: permission requests by PERMISSION_POLICY at once (each decision a
 * `permission` event), questions by a client or, after QUESTION_TIMEOUT, by
 * their default (each a `question` event).
 */
export class AgentRequests {
	private readonly questions = new Map<string, OpenQuestion>();
	/**
	 * Request ids already handled: a reconciliation re-announces what the
	 * engine still waits on, which may be a request answered a moment ago.
	 */
	private readonly seen = new Set<string>();

	constructor(private readonly deps: AgentRequestsDeps) {}

	/** Handles `permission.asked` and `question.asked`; false for any other event. */
	handle(session: Session, e: EngineEvent): boolean {
		if (e.type === "permission.asked") void this.answerPermission(session, e);
		else if (e.type === "question.asked") this.openQuestion(session, e);
		else return false;
		return true;
	}

	private async answerPermission(session: Session, e: EngineEvent): Promise<void> {
		const p = e.properties;
		const id = str(p.id);
		if (!id || this.seen.has(id)) return;
		this.seen.add(id);
		const metadata = isObject(p.metadata) ? p.metadata : {};
		const ask = {
			id,
			permission: str(p.permission) ?? "unknown",
			patterns: (Array.isArray(p.patterns) ? p.patterns : []).filter((x): x is string => typeof x === "string"),
			paths: [str(metadata.filepath), str(metadata.parentDir)].filter((x): x is string => x !== undefined),
		};
		const { config } = this.deps;
		const decision = decidePermission(ask, config.permissionPolicy, config.workspaceDir);
		if (!session.ended) {
			session.emit({
				event: "permission",
				data: {
					permission_id: id,
					permission: ask.permission,
					patterns: ask.patterns,
					decision: decision.decision,
					reason: decision.reason,
					timestamp: isoTime(this.deps.clock.now()),
				},
			});
		}
		try {
			// A rejection without a message would stop the agent; with one it continues another way.
			await this.deps.engine.replyPermission(
				id,
				decision.decision === "allow" ? "once" : "reject",
				decision.decision === "reject" ? decision.reason : undefined,
			);
		} catch (error) {
			this.deps.log.warn({ session_id: session.id, err: String(error) }, "could not answer a permission request");
		}
	}

	private openQuestion(session: Session, e: EngineEvent): void {
		const id = str(e.properties.id);
		if (!id || session.ended || this.seen.has(id)) return;
		this.seen.add(id);
		const questions = parseQuestions(e.properties);
		const defaults = defaultAnswers(questions);
		const timeoutMs = this.deps.config.questionTimeoutMs;
		const now = this.deps.clock.now();
		const cancelTimer = this.deps.clock.setTimeout(() => {
			void this.answer(session, id, defaults, "timeout").catch((error) => {
				this.deps.log.warn({ session_id: session.id, err: String(error) }, "could not answer a question");
			});
		}, timeoutMs);
		this.questions.set(id, { session, questions, cancelTimer });
		session.emit({
			event: "question",
			data: {
				question_id: id,
				questions,
				default: defaults,
				expires_at: isoTime(now + timeoutMs),
				timestamp: isoTime(now),
			},
		});
	}

	/** Answers an open question of `session`, from a client or from the timeout with its default. */
	async answer(
		session: Session,
		questionId: string,
		answers: string[][],
		by: "client" | "timeout" = "client",
	): Promise<{ question_id: string; answers: string[][] }> {
		const open = this.questions.get(questionId);
		if (!open || open.session !== session) throw new QuestionNotFound();
		const problem = answersProblem(open.questions, answers);
		if (problem) throw new ValidationFailed("answers", problem);
		this.questions.delete(questionId);
		open.cancelTimer();
		const seconds = this.deps.config.questionTimeoutMs / 1000;
		const text =
			by === "client"
				? `Question answered: ${JSON.stringify(answers)}\n`
				: `Nobody answered within QUESTION_TIMEOUT (${seconds}s); answered with the default: ${JSON.stringify(answers)}\n`;
		session.emit({
			event: "output",
			data: { type: "stdout", text, source: "sidecar", timestamp: isoTime(this.deps.clock.now()) },
		});
		await this.deps.engine.replyQuestion(questionId, answers);
		return { question_id: questionId, answers };
	}

	/** The run ended: its open questions are gone (the engine drops them on abort). */
	forget(session: Session): void {
		for (const [id, q] of this.questions) {
			if (q.session !== session) continue;
			q.cancelTimer();
			this.questions.delete(id);
		}
	}

	close(): void {
		for (const q of this.questions.values()) q.cancelTimer();
		this.questions.clear();
	}
}
