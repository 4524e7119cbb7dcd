import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import type { EngineApi } from "./adapter";
import { ENGINE_MODEL_ID } from "./config";
import { type EngineEvent, engineSessionOf } from "./events";

export interface WarmUpOptions {
	/** The warm-up gives up waiting for its prompt to end after this long. */
	readonly limitMs: number;
	readonly clock: Clock;
	readonly log: Logger;
}

/**
 * The engine initialises a project lazily, in the first prompt it runs
 * (snapshots, file watcher, project copy: 2-5 s). One throwaway prompt does
 * that right after the engine connects, while `/ready` already says ready;
 * runs wait for it (`Engine.whenWarm`) before their first prompt, so only a
 * run started in the first seconds of an engine pays for it. Its LLM call
 * goes to the gateway, which refuses it (no live session owns it; the
 * refusal is expected and logged at debug level): no provider is contacted.
 */
export class WarmUp {
	private session: string | undefined;
	private done: (() => void) | undefined;

	constructor(private readonly options: WarmUpOptions) {}

	/** True for the warm-up's own engine session. */
	owns(engineSessionId: string): boolean {
		return this.session !== undefined && this.session === engineSessionId;
	}

	/** True for an event of the warm-up's own session (not to be passed on). */
	absorb(event: EngineEvent): boolean {
		if (this.session === undefined || engineSessionOf(event) !== this.session) return false;
		if (event.type === "session.idle") this.done?.();
		return true;
	}

	async run(api: EngineApi): Promise<void> {
		const { clock, log } = this.options;
		const started = clock.now();
		try {
			const settings = { model: { providerID: "openai", modelID: ENGINE_MODEL_ID }, tools: {} };
			const id = await api.createSession("sidecar warm-up", settings, this.options.limitMs);
			let cancelLimit: (() => void) | undefined;
			const finished = new Promise<void>((resolve) => {
				this.session = id;
				this.done = resolve;
				cancelLimit = clock.setTimeout(resolve, this.options.limitMs);
			}).finally(() => cancelLimit?.());
			await api.prompt(id, { text: "warm-up", ...settings }, this.options.limitMs);
			await finished;
			await api.deleteSession(id).catch(() => {});
		} catch (error) {
			log.warn({ err: String(error) }, "engine warm-up failed; continuing");
		} finally {
			this.session = undefined;
			this.done = undefined;
		}
		log.info({ warm_up_ms: clock.now() - started }, "engine warmed up");
	}
}
