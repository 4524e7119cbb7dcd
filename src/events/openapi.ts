import { plainSchema } from "../lib/schema";
import { EVENT_CATALOGUE, type EventName } from "./catalogue";

/**
 * The stream's `text/event-stream` response for the OpenAPI document (3.2:
 * `itemSchema` describes one event of the sequence), generated from the event
 * catalogue: one item per event type, its `data` a JSON text whose schema is
 * the payload's (`contentMediaType` + `contentSchema`), plus the opening frame
 * that only carries `retry`. Pure.
 */
export function eventStreamMediaType(): Record<string, unknown> {
	const events = (Object.keys(EVENT_CATALOGUE) as EventName[]).map((name) => {
		const { schema, description } = EVENT_CATALOGUE[name];
		const stored = name !== "heartbeat";
		return {
			title: name,
			description: `${description}${stored ? "" : " (no id)"}`,
			type: "object",
			required: stored ? ["event", "id", "data"] : ["event", "data"],
			properties: {
				event: { const: name },
				...(stored ? { id: { type: "string", pattern: "^[0-9]+$", description: "Per-session event number" } } : {}),
				data: {
					type: "string",
					contentMediaType: "application/json",
					contentSchema: plainSchema(schema),
				},
			},
		};
	});
	const opening = {
		title: "retry",
		description: "The first frame of every response: the reconnection delay (ms), with a comment line",
		type: "object",
		required: ["retry"],
		properties: { retry: { type: "integer", minimum: 0 } },
	};
	return { itemSchema: { oneOf: [opening, ...events] } };
}
