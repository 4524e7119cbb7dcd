import { isEnded } from "../sessions/record";

/** What EngineUse listens to: the engine's processes and the runs' ends. */
interface Sources {
	readonly pid: number | undefined;
	onReady(listener: () => void): () => void;
	whenWarm(): Promise<void>;
}
interface Runs {
	onLifecycle(listener: (e: { readonly status: string }) => void): () => void;
}

/**
 * What the current engine process has been through, for the recycle policy
 * (recycle-policy.ts): its size at rest (read once its warm-up is done,
 * before it serves a run) and the runs that ended in it.
 */
export class EngineUse {
	private pid: number | undefined;
	private rest: number | undefined;
	private ended = 0;

	constructor(engine: Sources, runs: Runs, readRss: () => number | undefined) {
		engine.onReady(() => {
			const pid = engine.pid;
			if (pid === undefined || pid === this.pid) return; // A feed reconnect of the same process.
			this.pid = pid;
			this.rest = undefined;
			this.ended = 0;
			void engine.whenWarm().then(() => {
				if (engine.pid === pid) this.rest = readRss();
			});
		});
		runs.onLifecycle((e) => {
			if (isEnded({ status: e.status as never })) this.ended++;
		});
	}

	/** The current engine's resident memory once warmed up (bytes); undefined until read. */
	get restRss(): number | undefined {
		return this.rest;
	}

	/** Runs that ended since the current engine process became ready. */
	get runs(): number {
		return this.ended;
	}
}
