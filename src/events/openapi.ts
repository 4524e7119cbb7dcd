import { plainSchema } from "../lib/schema";
import { EVENT_CATALOGUE, type EventName } from "./catalogue";

/**
 * The stream's events in the OpenAPI documents, generated from the event
 * catalogue. Pure. One component per event's payload (`StatusEvent`, …) and
 * their union `SessionEvent`, shared by both documents:
 *
 * - 3.1 (what generators read): the `text/event-stream` response's `schema`
 *   is `SessionEvent`, the JSON of one event's `data`; the SSE `event` field
 *   names which member (the `x-sse-events` map on the media type says which).
 *   That is how SSE-aware generators read it (hey-api's client yields each
 *   event's parsed `data`, typed by the schema). No `discriminator`: the
 *   payloads do not carry the event name, and a discriminator would make
 *   generators add a field that never arrives.
 * - 3.2: `itemSchema` describes each frame of the stream (`event`, `id`, and
 *   `data` as a JSON text whose schema is the payload's), plus the opening
 *   frame that only carries `retry`.
 */

/** `tool_call` → `ToolCallEvent`: the payload's component name. */
export function eventComponentName(name: EventName): string {
	return `${name.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase())}Event`;
}

/** The union's component name: the 3.1 stream's schema (the 3.2 document, which has `itemSchema`, leaves it out). */
export const SESSION_EVENT = "SessionEvent";

const EVENT_NAMES = Object.keys(EVENT_CATALOGUE) as EventName[];
const ref = (name: EventName) => ({ $ref: `#/components/schemas/${eventComponentName(name)}` });
const unstored = (name: EventName) => name === "heartbeat";

/** The components both documents share: one schema per event's payload, and their union. */
export function eventComponents(): Record<string, Record<string, unknown>> {
	const payloads = EVENT_NAMES.map((name) => {
		const { schema, description } = EVENT_CATALOGUE[name];
		return [
			eventComponentName(name),
			{ ...plainSchema(schema), description: `\`event: ${name}\`: ${description}${unstored(name) ? " (no id)" : ""}` },
		] as const;
	});
	return {
		...Object.fromEntries(payloads),
		[SESSION_EVENT]: {
			description:
				"The JSON in one stream event's `data`; the event's SSE `event` field names which of these it is (`output` → OutputEvent, `tool_call` → ToolCallEvent, …), its `id` field numbers it (heartbeats have none)",
			oneOf: EVENT_NAMES.map(ref),
		},
	};
}

/** The 3.1 `text/event-stream` media type: each event's data is a `SessionEvent`. */
export function eventStreamMediaType(): Record<string, unknown> {
	return {
		schema: { $ref: `#/components/schemas/${SESSION_EVENT}` },
		// Machine-readable pairing of the SSE `event` field with its payload (the conformance checker reads it).
		"x-sse-events": Object.fromEntries(EVENT_NAMES.map((name) => [name, ref(name).$ref])),
	};
}

/** The 3.2 `text/event-stream` media type: `itemSchema`, one member per frame type. */
export function eventStreamItems(): Record<string, unknown> {
	const events = EVENT_NAMES.map((name) => {
		const stored = !unstored(name);
		return {
			title: name,
			description: `${EVENT_CATALOGUE[name].description}${stored ? "" : " (no id)"}`,
			type: "object",
			required: stored ? ["event", "id", "data"] : ["event", "data"],
			properties: {
				event: { const: name },
				...(stored ? { id: { type: "string", pattern: "^[0-9]+$", description: "Per-session event number" } } : {}),
				data: { type: "string", contentMediaType: "application/json", contentSchema: ref(name) },
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
