import { type Static, Type } from "@sinclair/typebox";
import { NEVER_ON, TOOL_NAMES } from "../engine/tools";
import { literalUnion } from "../lib/schema";
import { PROVIDER_NAMES } from "./catalogue";

/**
 * What a session asks of every LLM call, declared once: the request validates it (`ModelConfig`),
 * the record stores it (`SessionRecord` extends it), the gateway writes it into each call
 * (`CallParameters`). A new field here is validated, stored and handed to the gateway; only how each
 * wire format takes it is written in gateway/rewrite.ts.
 */
export const CallSettings = Type.Object({
	temperature: Type.Number({ minimum: 0, maximum: 2 }),
	max_tokens: Type.Integer({
		minimum: 1,
		maximum: 1_000_000,
		description: "Output tokens per LLM call",
	}),
});
export type CallSettings = Static<typeof CallSettings>;

/** The required settings of a record written before they were stored. */
const STORED_DEFAULTS: Pick<CallSettings, RequiredKeys<CallSettings>> = { temperature: 1, max_tokens: 4096 };

type RequiredKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? never : K }[keyof T];

const SETTING_NAMES = Object.keys(CallSettings.properties) as (keyof CallSettings)[];

/** The call settings of a request's model_config or of a stored record: only the fields it has. */
export function callSettingsOf<S extends Partial<CallSettings>>(from: S): Pick<S, keyof CallSettings & keyof S> {
	const out: Record<string, unknown> = {};
	for (const name of SETTING_NAMES) if (from[name] !== undefined) out[name] = from[name];
	return out as Pick<S, keyof CallSettings & keyof S>;
}

/** The call settings of a stored record, with defaults for what records written before them lack. */
export function storedCallSettings(from: Partial<CallSettings>): CallSettings {
	return { ...STORED_DEFAULTS, ...callSettingsOf(from) };
}

export const ModelConfig = Type.Object(
	{
		provider: literalUnion(PROVIDER_NAMES, {
			description: "`openai-compatible` needs `api_endpoint`",
		}),
		model: Type.String({
			minLength: 1,
			maxLength: 200,
			description: "Model name as the provider knows it",
		}),
		api_key: Type.String({
			minLength: 1,
			maxLength: 4096,
			// It goes into an HTTP header upstream: visible ASCII only.
			pattern: "^[\\x21-\\x7E]+$",
			description: "Used only for this session's LLM calls; never stored, logged or shown",
		}),
		...CallSettings.properties,
		enabled_tools: Type.Array(literalUnion([...TOOL_NAMES, ...NEVER_ON]), {
			maxItems: 64,
			description:
				"Capabilities (read, edit, write, bash, web) or engine tool ids the agent may use; todo and question are on unless turned off with -todo / -question. See API_CONTRACT.md for the mapping.",
		}),
		model_version: Type.Optional(
			Type.String({
				maxLength: 100,
				description: "Informational; recorded with the session",
			}),
		),
		api_endpoint: Type.Optional(
			Type.String({
				pattern: "^https?://[^\\s]+$",
				maxLength: 2048,
				description: "Base URL of the provider API (e.g. https://api.openai.com/v1); overrides the provider default",
			}),
		),
	},
	{
		additionalProperties: true,
		description: "Unknown fields are ignored, for forward compatibility",
	},
);
export type ModelConfig = Static<typeof ModelConfig>;
