import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { EventFeed, type FeedItem } from "../../src/engine/feed";
import { v1Adapter } from "../../src/engine/v1/adapter";
import { systemClock } from "../../src/lib/clock";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";

// The engine's /event feed as the supervisor reads it, against a stand-in SSE server behind a controllable proxy.

let server: ReturnType<typeof Bun.serve>;
let proxy: TcpProxy;
/** Each connection gets `server.connected`, then one event per `send()`; no heartbeats unless sent. */
const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
const encoder = new TextEncoder();
const send = (type: string, properties: Record<string, unknown> = {}) => {
	for (const c of streams) c.enqueue(encoder.encode(`data: ${JSON.stringify({ type, properties })}\n\n`));
};

beforeAll(async () => {
	server = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		idleTimeout: 0,
		fetch(req) {
			if (req.headers.get("authorization") !== "Basic test") return new Response("no", { status: 401 });
			let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
			return new Response(
				new ReadableStream<Uint8Array>({
					start(c) {
						controller = c;
						streams.add(c);
						c.enqueue(encoder.encode(`data: ${JSON.stringify({ type: "server.connected", properties: {} })}\n\n`));
					},
					cancel() {
						if (controller) streams.delete(controller);
					},
				}),
				{ headers: { "content-type": "text/event-stream" } },
			);
		},
	});
	proxy = await startTcpProxy();
	proxy.target = { host: "127.0.0.1", port: server.port as number };
});

afterAll(async () => {
	await proxy.close();
	await server.stop(true);
});

/** Reads items from the feed into a list; `next(pred)` resolves with the first unread item matching. */
function reader(feed: EventFeed) {
	const items: FeedItem[] = [];
	const waiters: { pred: (i: FeedItem) => boolean; resolve: (i: FeedItem) => void }[] = [];
	let read = 0;
	void (async () => {
		for await (const item of feed) {
			items.push(item);
			for (const w of [...waiters]) {
				const found = items.slice(read).find(w.pred);
				if (found) {
					read = items.indexOf(found) + 1;
					waiters.splice(waiters.indexOf(w), 1);
					w.resolve(found);
				}
			}
		}
	})();
	return {
		items,
		next(pred: (i: FeedItem) => boolean): Promise<FeedItem> {
			const found = items.slice(read).find(pred);
			if (found) {
				read = items.indexOf(found) + 1;
				return Promise.resolve(found);
			}
			return new Promise((resolve) => waiters.push({ pred, resolve }));
		},
	};
}

const feedVia = (idleLimitMs: number) =>
	new EventFeed({
		url: `http://127.0.0.1:${proxy.port}/event`,
		parse: v1Adapter.feedReader("/"),
		authorization: "Basic test",
		idleLimitMs,
		retryMs: 50,
		clock: systemClock,
	});

describe("the engine event feed", () => {
	test("reports the connection, hands on events (server.* left out), and reconnects after a cut", async () => {
		const feed = feedVia(60_000);
		const r = reader(feed);
		await r.next((i) => i.kind === "connected");
		send("session.status", { sessionID: "s1" });
		send("server.heartbeat");
		const events = await r.next((i) => i.kind === "events");
		expect(events).toEqual({ kind: "events", events: [{ type: "session.status", properties: { sessionID: "s1" } }] });
		const before = proxy.accepted;
		proxy.cut();
		const lost = await r.next((i) => i.kind === "lost");
		expect(lost.kind === "lost" && lost.reason).toContain("event stream failed");
		await r.next((i) => i.kind === "connected");
		expect(proxy.accepted).toBe(before + 1);
		feed.close();
	});

	test("a feed that goes silent without closing is ended after the inactivity limit and reconnected", async () => {
		const feed = feedVia(300);
		const r = reader(feed);
		await r.next((i) => i.kind === "connected");
		proxy.stall();
		const lost = await r.next((i) => i.kind === "lost");
		expect(lost).toEqual({ kind: "lost", reason: "no byte from the engine for 300 ms" });
		await r.next((i) => i.kind === "connected");
		feed.close();
	});

	test("a refused connection is retried until the engine answers again; close() ends the iterator", async () => {
		proxy.down();
		const feed = feedVia(60_000);
		const r = reader(feed);
		await r.next((i) => i.kind === "lost");
		await r.next((i) => i.kind === "lost");
		proxy.up();
		await r.next((i) => i.kind === "connected");
		feed.close();
		const it = feed[Symbol.asyncIterator]();
		expect(await it.next()).toEqual({ done: true, value: undefined });
	});
});
