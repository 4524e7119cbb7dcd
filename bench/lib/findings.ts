import type { Finding } from "./report";

/**
 * What profiling found behind each goal the sidecar missed, and the change
 * proposed (src/ was not changed by the benchmark work). Measured with
 * `BENCH_PROFILE=<dir> npm run bench -- <group>` (bun --cpu-prof of the
 * sidecar host), the start row's log milestones, and module-by-module RSS.
 * RESULTS.md shows the findings whose rows missed in that run.
 */
export const FINDINGS: readonly Finding[] = [
	{
		rows: ["start."],
		title: "Start: the engine is warmed up before `/ready`",
		cause:
			"The sidecar itself listens ~0.2 s after spawn and its engine listens as fast as the engine alone does " +
			"(see `sidecar_log_milestones_ms` in results.json: `engine listening: start_ms`). The rest is " +
			"`engine warmed up: warm_up_ms` (2.5-3.1 s when analysed): `EngineSupervisor.connected()` runs a throw-away prompt " +
			"through the engine (its first run sets the project up) and only then calls `becameReady()`, so `/ready` " +
			"waits for the engine's first-run initialisation, which the engine alone never does before listening.",
		fix:
			"src/engine/supervisor.ts: call `becameReady()` as soon as `/event` is connected and run `warmUp()` in the " +
			"background; expose its promise, and in src/sessions/manager.ts `create()` await it (bounded) before " +
			"`engine.prompt`, so only a session created in the first seconds pays for it instead of every pod start. " +
			"Better still, ship the engine's first-run state in the image (`ENGINE_SEED_DIR` already links seeded " +
			"dependencies) so the warm-up has nothing left to do.",
	},
	{
		rows: ["create."],
		title: "Create: `POST /sessions` waits for two engine round trips",
		cause:
			"`SessionManager.create()` awaits `engine.createSession()` and `engine.prompt()` (prompt_async) before " +
			"answering 201. The same two calls made directly to the engine (baseline column) already take 35-45 ms at " +
			"p50 and 80-300 ms at p99 on this 2-core machine, above the goal on their own. The sidecar's total is " +
			"10-20 ms above them at p50; its own CPU per create is 1-3 ms in the profile (validation, the record " +
			"written and renamed, the log opened, the SDK), the rest is waiting: for the engine handling the fuller " +
			"prompt (tool switches, model) and for synchronous file writes on a busy disk.",
		fix:
			"src/sessions/manager.ts `create()`: after registering the session and saving its record, answer 201 with " +
			"`status: pending` and create the engine session and send the prompt in the background; a failure then ends " +
			"the run through the normal terminal events (`status: failed`, `error` with `engine_unavailable`) instead of " +
			"a 503. Optionally keep one engine session pre-created (refilled after each create) to take " +
			"`session.create` off the path of the run too.",
	},
	{
		rows: ["relay.throughput"],
		title: "Relay throughput: one stored event per engine delta",
		cause:
			"Every `message.part.delta` becomes its own event: parsed, translated, appended with its own `writeSync` " +
			"(the largest single cost in the profile, ~4 µs each), counted in prom-client, encoded and enqueued: ~13 µs " +
			"of sidecar CPU per token, so a 2,000-token burst that the engine writes in a few ms takes the sidecar " +
			"~25-40 ms. Paced at a model's speed the ratio is 1.0 (`paced_run` in results.json); flat out it is also " +
			"noisy because the engine writes a burst to its subscribers one after another (`median_control_ratio`: a " +
			"second direct subscriber measured against the first).",
		fix:
			"Coalesce without a timer: src/engine/supervisor.ts `followEvents()` dispatches all events parsed from one " +
			"network chunk as a batch; src/sessions/manager.ts translates the batch and merges consecutive `output` " +
			"events of the same part and source into one before `session.emit`; src/events/log.ts gains " +
			"`appendMany()` writing the batch with one `writeSync`. A burst then costs a handful of events and adds no " +
			"latency (nothing waits for a timer); ids stay dense and every event is still stored before it is sent.",
	},
	{
		rows: ["relay.latency"],
		title: "Relay latency tail: deltas handled one by one in the engine's groups",
		cause:
			"The median added latency is a fraction of a millisecond. The engine flushes deltas in groups (7-10 deltas " +
			"about every 17 ms at this pace), and the sidecar handles a group serially, one parse, translation, " +
			"`writeSync` and socket write per delta (~13 µs of CPU each, see the throughput finding), so the last " +
			"delta of a group waits for the others, and for a core shared with the engine and the subscribers. " +
			"`fdatasyncSync` of running logs once a second also runs on the event loop and can add its disk time.",
		fix:
			"The coalescing proposed for throughput (a group from one network chunk becomes one event and one write); " +
			"and src/events/log.ts `sync()` through `fs.promises` `fdatasync` so a slow disk flush never blocks delivery.",
	},
	{
		rows: ["replay.full"],
		title: "Full replay: every record decoded, rebuilt and re-encoded",
		cause:
			"Profile of a replay: 55% in Bun's native `write` turning the JS string frames back into UTF-8 for the " +
			"socket, 27% in `recordToFrame` (slicing each `id\\tevent\\tjson` record and concatenating its frame), " +
			"10% in `Bun.file().slice().text()` decoding the bytes into a string. The raw read is a memory copy from the " +
			"page cache, so replay runs at a small fraction of it.",
		fix:
			"src/events/record.ts and src/events/log.ts: store each record as its SSE frame " +
			"(`event: E\\nid: N\\ndata: JSON\\n\\n`; recovery cuts a torn last frame at its missing blank line; the " +
			"offsets index stays), make `readFrames()` return the byte range as a `Uint8Array`, and let " +
			"src/sse/event-stream.ts enqueue bytes: replay becomes read + socket write with no decoding or rebuilding.",
	},
	{
		rows: ["replay.ttfe"],
		title: "Replay: the first event waits for a whole 256 KiB replay chunk",
		cause:
			"Seeking is by index (the time does not grow with the log: compare the three rows), but the first replay " +
			"step reads up to 256 KiB (~2,000 frames), decodes and rebuilds them all before the first byte of the first " +
			"event is enqueued.",
		fix:
			"src/sse/event-stream.ts `catchUp()`: read a small first chunk (e.g. 16 KiB) and double the chunk size on " +
			"each step up to 256 KiB, so the first event leaves within about a millisecond whatever the log size.",
	},
	{
		rows: ["fanout."],
		title: "Fan-out: the same frame is converted to bytes once per subscriber",
		cause:
			"`EventChannel.publish()` encodes each event once, but as a JS string; each subscriber's stream enqueues " +
			"that string and Bun converts it to UTF-8 on every socket write. In the profile Bun's native `write` is " +
			"~30% of the sidecar's CPU during fan-out and absent from the bare server, which enqueues bytes; " +
			"`queued()` reading `desiredSize` twice per write adds ~6%. The same bare server enqueueing the frames as " +
			"strings instead of bytes (`control_bare_enqueueing_strings` in results.json) loses much of its lead: " +
			"measured alone on this machine, 2.4 M frames/s with bytes against 1.1 M with strings.",
		fix:
			"src/events/channel.ts: encode the frame once with `TextEncoder` and hand the same `Uint8Array` to every " +
			"subscriber (`Subscriber.deliver(id, bytes, terminal)`); src/sse/event-stream.ts: a " +
			"`ReadableStream<Uint8Array>` with `size: (c) => c.byteLength`, and queued bytes kept in a counter updated " +
			"on enqueue and pull instead of reading `desiredSize` around every write.",
	},
	{
		rows: ["memory.idle"],
		title: "Idle memory: the runtime plus the modules loaded at start",
		cause:
			"Measured module by module on this machine: Bun itself idles at ~28 MB RSS; loading Elysia adds ~11 MB, " +
			"@elysiajs/openapi ~2 MB, pino ~4 MB, the SDK ~1 MB and prom-client ~7 MB (its index loads every " +
			"default-metrics collector and @opentelemetry/api even though the sidecar uses none of them); the JS heap " +
			"itself is ~4 MB and the servers, engine pipes and timers the rest. `bun --smol` and a bundled build " +
			"(`bun build --target=bun`) did not lower it.",
		fix:
			"src/metrics/metrics.ts: replace prom-client with a small in-house registry writing the Prometheus text " +
			"format (the sidecar has 4 gauges, 8 counters and 1 histogram; ~80 lines), which should bring idle RSS to " +
			"about 56 MB (63 − 7); if more is needed, load @elysiajs/openapi only when `/swagger` is first requested.",
	},
	{
		rows: ["probes."],
		title: "Probes under stream traffic: waiting for the CPU, not for a long task",
		cause:
			"With the 200 streams open but quiet the probe latency stays at its idle level. With traffic, the CPU " +
			"profile of the sidecar shows no task of 4 ms or more; the added latency is time spent waiting for a core " +
			"on a 2-core machine shared by the sidecar writing 20,000 frames/s, the subscribers' reader, the load " +
			"generator and the engine (plus whatever else runs on the machine: see the load average in the header).",
		fix:
			"Lower the CPU per frame with the fan-out and relay fixes above (bytes encoded once per event, fewer " +
			"events per burst); the probe route itself is already trivial (`/healthz` touches neither disk nor engine).",
	},
];
