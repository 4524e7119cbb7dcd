import type { EngineAdapter } from "../adapter";
import { EngineClientV2 } from "./client";
import { FeedMapper } from "./feed-map";

/**
 * OpenCode 2.x (2.1): the client generated from its OpenAPI document (gen/) for calls,
 * `GET /api/event` for the feed, whose frames (every location's) the feed mapper filters on
 * the workspace and maps onto the port's vocabulary (feed-map.ts).
 */
export const v2Adapter: EngineAdapter = {
	generation: "2",
	serveArgs: ["serve", "--hostname", "127.0.0.1", "--port", "0"],
	healthCall: "GET /api/info",
	client: (a) => new EngineClientV2(a.base, a.authorization, a.directory, a.clock, a.callTimeoutMs),
	feedUrl: (base) => `${base}/api/event`,
	feedReader(directory) {
		const mapper = new FeedMapper(directory);
		return (data) => mapper.read(data);
	},
};
