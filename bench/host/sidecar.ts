/**
 * The sidecar as `src/main.ts` builds and serves it, plus a bench hook over
 * IPC: it reports where its engine listens (for a direct `/event` subscriber)
 * and can publish events straight into a session's log, as the translator
 * does, at a set rate. Started by bench/lib/child.ts; env as for main.ts.
 */

import { heapStats, memoryUsage as jscMemory } from "bun:jsc";
import { resolve } from "node:path";
import { parseConfig } from "../../src/config/parse";
import { bunSpawn } from "../../src/engine/process";
import { probeEngineVersion } from "../../src/engine/version-probe";
import { listen } from "../../src/http/listen";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { createSidecar } from "../../src/sidecar";
import { loadTracing } from "../../src/telemetry/load";
import { VERSION } from "../../src/version";
import { now } from "../lib/clock";
import { answerRequests } from "../lib/ipc";
import { paced } from "../lib/pace";
import { injectedText, type Reply, type Request } from "../lib/protocol";

const config = parseConfig(process.env, resolve(import.meta.dir, "../.."));
// As src/main.ts: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (the tracing row sets it on one host).
const tracing = await loadTracing(process.env, config, VERSION);
const log = createLogger(config.logLevel, undefined, tracing.enabled ? tracing.traceId : undefined);
const sidecar = createSidecar(config, systemClock, log, {
	tracing,
	release: await probeEngineVersion({
		bin: config.engineBin,
		spawn: bunSpawn,
		clock: systemClock,
		timeoutMs: config.engineStartTimeoutMs,
	}),
});
const server = listen(config, sidecar.app);
await sidecar.engine.whenReady();
const engine = sidecar.engine.connection();
if (!engine) throw new Error("engine ready but not listening");
process.send?.({
	op: "hello",
	port: server.server?.port,
	pid: process.pid,
	engine: { ...engine, pid: sidecar.engine.pid },
});

async function inject(req: Extract<Request, { op: "inject" }>): Promise<Extract<Reply, { op: "inject" }>> {
	const session = sidecar.sessions.get(req.session);
	const publish = (n: number) => {
		const at = now();
		session.emit({
			event: "output",
			data: {
				type: "stdout",
				text: injectedText(req.prefix, n, at),
				source: "assistant",
				timestamp: new Date(at).toISOString(),
			},
		});
	};
	const t = await paced(req.count, req.perSecond, publish, req.maxMs);
	return { op: "inject", ...t, lastId: session.channel.lastId };
}

async function answer(req: Request): Promise<Reply> {
	switch (req.op) {
		case "clock":
			return { op: "clock", at: now() };
		case "inject":
			return inject(req);
		case "streams":
			return { op: "streams", open: sidecar.streams.size };
		case "gc":
			Bun.gc(true);
			return { op: "gc" };
		case "heap": {
			Bun.gc(true);
			const h = heapStats();
			if (req.snapshot) await Bun.write(req.snapshot, JSON.stringify(Bun.generateHeapSnapshot()));
			return {
				op: "heap",
				heapSize: h.heapSize,
				heapCapacity: h.heapCapacity,
				extraMemorySize: h.extraMemorySize,
				objectCount: h.objectCount,
				objectTypeCounts: h.objectTypeCounts,
				protectedObjectCount: h.protectedObjectCount,
				memoryUsage: process.memoryUsage(),
				mimallocCommit: jscMemory().currentCommit,
			};
		}
		case "stop":
			sidecar.drain();
			await sidecar.stop();
			await server.stop(true);
			await tracing.shutdown(2000);
			setTimeout(() => process.exit(0), 10);
			return { op: "stop" };
		default:
			throw new Error(`${req.op} is not served here`);
	}
}

answerRequests(answer);
// Never outlive the bench: an orphaned host would keep its engine running.
process.on("disconnect", () => {
	void sidecar.stop().finally(() => process.exit(1));
});
