/**
 * The fan-out baseline: a bare `Bun.serve` SSE server with no log, no
 * framework and no per-subscriber logic. Each event is encoded once into
 * bytes and the same bytes are enqueued to every open stream, at the rate
 * and with the payload the sidecar host publishes. Streams queue up to
 * 64 KiB counted in bytes, as the sidecar's do. Started by
 * bench/lib/child.ts; driven over IPC.
 *
 * `GET /?file=<path>` answers with that file as the body (Bun sends it with
 * sendfile): for the replay row, the fastest any server here sends a stored
 * event log over a socket.
 */
import { now } from "../lib/clock";
import { answerRequests } from "../lib/ipc";
import { paced } from "../lib/pace";
import { injectedText, type Reply, type Request } from "../lib/protocol";

/** `BARE_CHUNKS=string`: enqueue the frame as a JS string, as the sidecar does (a control for the fan-out finding). */
const asString = process.env.BARE_CHUNKS === "string";
type Chunk = Uint8Array | string;
const streams = new Set<ReadableStreamDefaultController<Chunk>>();
const encoder = new TextEncoder();
let lastId = 0;

const server = Bun.serve({
	hostname: "127.0.0.1",
	port: 0,
	idleTimeout: 0,
	fetch(req) {
		const file = new URL(req.url).searchParams.get("file");
		if (file) return new Response(Bun.file(file), { headers: { "Content-Type": "text/event-stream; charset=utf-8" } });
		let self: ReadableStreamDefaultController<Chunk> | undefined;
		const body = new ReadableStream<Chunk>(
			{
				start(controller) {
					self = controller;
					streams.add(controller);
					controller.enqueue(encoder.encode(": stream open\nretry: 2000\n\n"));
				},
				cancel() {
					if (self) streams.delete(self);
				},
			},
			// Counted in bytes: with the default one-chunk strategy every enqueue is ~10x dearer in Bun 1.4.
			{
				highWaterMark: 64 * 1024,
				size: (chunk) => (typeof chunk === "string" ? chunk.length : (chunk?.byteLength ?? 0)),
			},
		);
		return new Response(body, {
			headers: {
				"Content-Type": "text/event-stream; charset=utf-8",
				"Cache-Control": "no-cache, no-transform",
				Connection: "keep-alive",
				"X-Accel-Buffering": "no",
			},
		});
	},
});
process.send?.({ op: "hello", port: server.port, pid: process.pid });

function publish(prefix: string, n: number): void {
	const at = now();
	const data = {
		type: "stdout",
		text: injectedText(prefix, n, at),
		source: "assistant",
		timestamp: new Date(at).toISOString(),
	};
	const frame = `event: output\nid: ${++lastId}\ndata: ${JSON.stringify(data)}\n\n`;
	const bytes = asString ? frame : encoder.encode(frame);
	for (const s of streams) {
		try {
			s.enqueue(bytes);
		} catch {
			streams.delete(s);
		}
	}
}

async function inject(req: Extract<Request, { op: "inject" }>): Promise<Extract<Reply, { op: "inject" }>> {
	const t = await paced(req.count, req.perSecond, (n) => publish(req.prefix, n), req.maxMs);
	return { op: "inject", ...t, lastId };
}

async function answer(req: Request): Promise<Reply> {
	switch (req.op) {
		case "clock":
			return { op: "clock", at: now() };
		case "inject":
			return inject(req);
		case "streams":
			return { op: "streams", open: streams.size };
		case "stop":
			for (const s of streams) {
				try {
					s.close();
				} catch {
					// Already closed.
				}
			}
			await server.stop(true);
			setTimeout(() => process.exit(0), 10);
			return { op: "stop" };
		default:
			throw new Error(`${req.op} is not served here`);
	}
}

answerRequests(answer);
process.on("disconnect", () => process.exit(1));
