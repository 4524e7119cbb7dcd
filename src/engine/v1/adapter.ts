import type { EngineAdapter, FeedFrame } from "../adapter";
import { parseEngineEvent } from "../events";
import { EngineClient } from "./client";

/**
 * OpenCode 1.x (1.18): the SDK `@opencode-ai/sdk` for calls, `GET /event`
 * for the feed. Its events are the port's vocabulary as they are (events.ts):
 * this adapter only drops the `server.*` notices and recognises
 * `server.connected`.
 */
export const v1Adapter: EngineAdapter = {
	generation: "1",
	serveArgs: ["serve", "--hostname", "127.0.0.1", "--port", "0"],
	healthCall: "GET /global/health",
	client: (a) => new EngineClient(a.base, a.authorization, a.directory, a.clock, a.callTimeoutMs),
	feedUrl: (base, directory) => `${base}/event?directory=${encodeURIComponent(directory)}`,
	feedReader: () => (data) => parseFrame(data),
};

function parseFrame(data: string): FeedFrame {
	const event = parseEngineEvent(data);
	if (!event) return undefined;
	if (event.type === "server.connected") return { kind: "connected" };
	if (event.type.startsWith("server.")) return undefined;
	return { kind: "event", events: [event] };
}
