import type { EngineEvent } from "../../src/engine/events";
import { EMPTY_USAGE, type RunOutcome, RunTranslator, type TranslatorOptions } from "../../src/engine/translate";
import type { LoggedEvent } from "../../src/events/catalogue";
import type { RunEnd } from "../../src/sessions/lifecycle";
import { signalInput } from "../../src/sessions/router";
import { INITIAL_RUN, type RunInput, type RunSettings, type RunState } from "../../src/sessions/run-effects";
import { runTransition } from "../../src/sessions/run-machine";

const SETTINGS: RunSettings = {
	sessionTimeoutMs: 60_000,
	maxRetries: 10,
	resumeInterrupted: true,
	questionTimeoutMs: 60_000,
	permissionPolicy: "workspace",
	workspaceDir: "/workspace",
};

/**
 * A translator followed by a run machine, as the sessions use them (router.ts): the translator
 * reports the engine's busy, idle and errors, and the machine decides whether they end the run.
 * `follow` gives the outcome the run ended with, once.
 */
export class FollowedRun extends RunTranslator {
	state: RunState = INITIAL_RUN;

	constructor(options: TranslatorOptions) {
		super(options);
	}

	/** A run starts and the engine takes its prompt (the executor's `begin` and `launch`). */
	override beginRun(nowMs?: number): void {
		super.beginRun(nowMs);
		this.step({ type: "start", prompt: "p" });
		this.step({ type: "launched", run: this.state.run });
	}

	/** The run is ended from outside (a cancel). */
	endRun(): void {
		this.step({ type: "cancel" });
	}

	get inRun(): boolean {
		return this.state.listening;
	}

	follow(e: EngineEvent, nowMs: number): { events: LoggedEvent[]; outcome?: RunOutcome } {
		const { events, signal } = this.translate(e, nowMs, this.state.listening);
		if (!signal) return { events };
		const effects = this.step(signalInput(signal));
		if (effects.some((x) => x.type === "finish")) {
			// The workspace scan of the completed run is done: it ends.
			const end: RunEnd = {
				status: "completed",
				finalMessage: this.finalMessage,
				filesModified: [],
				usage: EMPTY_USAGE,
			};
			this.step({ type: "engineEnded", run: this.state.run, end });
			return { events, outcome: { status: "completed" } };
		}
		if (!effects.some((x) => x.type === "end")) return { events };
		const outcome = signal.type === "error" ? signal.outcome : signal.type === "idle" ? signal.error : undefined;
		if (!outcome) throw new Error(`a run ended on ${signal.type} without an outcome`);
		return { events, outcome };
	}

	private step(input: RunInput) {
		const { state, effects } = runTransition(this.state, input, SETTINGS, 0);
		this.state = state;
		return effects;
	}
}
