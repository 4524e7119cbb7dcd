/**
 * The LLM providers a session may name, and how each is reached. The engine
 * never talks to them directly: its providers point at the credential gateway
 * (see src/gateway/), which forwards each call to the session's own endpoint.
 * Each provider is one entry of `PROVIDERS`: the request schema, the engine's
 * configuration and the gateway's routes are derived from it.
 */
export type WireFormat = "responses" | "chat" | "anthropic";

export interface ProviderSpec {
	/** Provider id inside the engine's configuration. */
	readonly engineProvider: string;
	/** Endpoint used when the session gives no `api_endpoint`. */
	readonly defaultEndpoint: string | undefined;
	/** The API the engine speaks for this provider. */
	readonly format: WireFormat;
	/** How the real key is presented upstream. */
	readonly auth: "bearer" | "x-api-key";
	/**
	 * The AI SDK package the engine loads for this provider, with the name it shows; absent: a
	 * provider the engine has built in (its id is one the engine knows).
	 */
	readonly npm?: { readonly package: string; readonly name: string };
}

export const PROVIDERS = {
	openai: {
		engineProvider: "openai",
		defaultEndpoint: "https://api.openai.com/v1",
		format: "responses",
		auth: "bearer",
	},
	anthropic: {
		engineProvider: "anthropic",
		defaultEndpoint: "https://api.anthropic.com/v1",
		format: "anthropic",
		auth: "x-api-key",
	},
	"openai-compatible": {
		engineProvider: "openai-compatible",
		defaultEndpoint: undefined,
		format: "chat",
		auth: "bearer",
		npm: { package: "@ai-sdk/openai-compatible", name: "OpenAI-compatible" },
	},
} as const satisfies Record<string, ProviderSpec>;

export type ProviderName = keyof typeof PROVIDERS;
/** The names a session may give, in declaration order (derived: an entry above is all a new provider needs). */
export const PROVIDER_NAMES = Object.keys(PROVIDERS) as ProviderName[];

/** Upstream path (under the endpoint) of the one call each format makes. */
export const FORMAT_PATH: Record<WireFormat, string> = {
	responses: "/responses",
	chat: "/chat/completions",
	anthropic: "/messages",
};
