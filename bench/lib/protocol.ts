import type { LoadResult } from "./load";

/**
 * Messages between the bench and its child servers (the sidecar host, the
 * bare SSE server and the load generator), over Bun's IPC channel.
 */

/** What a child says once it listens. */
export interface Hello {
	readonly op: "hello";
	readonly port: number;
	readonly pid: number;
	/** The sidecar's engine, for a direct `/event` subscriber (sidecar host only). */
	readonly engine?: {
		readonly url: string;
		readonly authorization: string;
		readonly pid: number | undefined;
	};
}

export type Request =
	/** Answers with the child's clock, to measure the offset between processes. */
	| { readonly op: "clock" }
	/**
	 * Publishes `count` `output` events at `perSecond` (Infinity: as fast as it
	 * can) into `session`, each text `<prefix><n>@<child clock ms>`, for at
	 * most `maxMs`.
	 */
	| {
			readonly op: "inject";
			readonly session: string;
			readonly count: number;
			readonly perSecond: number;
			readonly prefix: string;
			readonly maxMs?: number;
	  }
	/** Open SSE streams right now. */
	| { readonly op: "streams" }
	/** A full garbage collection, so a memory reading counts what is kept, not what waits to be collected. */
	| { readonly op: "gc" }
	/**
	 * A full collection, then JavaScriptCore's heap statistics (object counts
	 * by type) and the process's memory figures; `snapshot`: also write a heap
	 * snapshot to that path (sidecar host only; for the growth probe).
	 */
	| { readonly op: "heap"; readonly snapshot?: string }
	/** Load generator only: GETs `url` at a constant rate (see lib/load.ts). */
	| { readonly op: "load"; readonly url: string; readonly perSecond: number; readonly seconds: number }
	| { readonly op: "stop" };

export type Reply =
	| { readonly op: "clock"; readonly at: number }
	| {
			readonly op: "inject";
			/** Events published (fewer than asked if `maxMs` ran out). */
			readonly sent: number;
			/** Id of the newest event on the stream afterwards. */
			readonly lastId: number;
			readonly startedAt: number;
			readonly endedAt: number;
	  }
	| { readonly op: "streams"; readonly open: number }
	| { readonly op: "gc" }
	| ({ readonly op: "heap" } & HeapReading)
	| ({ readonly op: "load" } & LoadResult)
	| { readonly op: "stop" }
	| { readonly op: "error"; readonly message: string };

export type Envelope<T> = T & { readonly seq: number };

/** The payload of an injected event; the bench finds the send time after the `@`. */
export const injectedText = (prefix: string, n: number, at: number): string => `${prefix}${n}@${at.toFixed(3)}`;

/** What the `heap` op reports. */
export interface HeapReading {
	readonly heapSize: number;
	readonly heapCapacity: number;
	readonly extraMemorySize: number;
	readonly objectCount: number;
	readonly objectTypeCounts: Record<string, number>;
	readonly protectedObjectCount: number;
	/** Bytes mimalloc (Bun's allocator for everything outside the JS heap) has committed. */
	readonly mimallocCommit: number;
	readonly memoryUsage: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
}
