import { PROVIDERS, type ProviderName, type ProviderSpec } from "../providers/catalogue";

/**
 * The one model id the engine knows per provider. The real model name is the
 * session's and is written into each call by the credential gateway, so the
 * engine's configuration never changes at run time (`PATCH /config` would
 * write a config.json into the workspace) and holds no session data.
 */
export const ENGINE_MODEL_ID = "session-model";

const MODEL = {
	name: "Session model (the sidecar sets the real one per call)",
	tool_call: true,
	reasoning: false,
	temperature: true,
	attachment: false,
	limit: { context: 200_000, output: 32_000 },
};

export function engineModelFor(provider: ProviderName): {
	providerID: string;
	modelID: string;
} {
	return {
		providerID: PROVIDERS[provider].engineProvider,
		modelID: ENGINE_MODEL_ID,
	};
}

/**
 * The engine's configuration (OPENCODE_CONFIG_CONTENT). Its providers point at
 * the gateway and authenticate with the gateway token, which is not a
 * provider key. Permissions never wait for a person: everything is allowed
 * except what the sidecar decides itself (directories outside the workspace,
 * doom loops), which it answers the moment the engine asks.
 */
export function buildEngineConfig(gatewayUrl: string, gatewayToken: string): Record<string, unknown> {
	const provider: Record<string, unknown> = {};
	for (const [name, spec] of Object.entries(PROVIDERS) as [string, ProviderSpec][]) {
		provider[spec.engineProvider] = {
			...(spec.npm ? { npm: spec.npm.package, name: spec.npm.name } : {}),
			options: { baseURL: `${gatewayUrl}/${name}`, apiKey: gatewayToken },
			models: { [ENGINE_MODEL_ID]: MODEL },
		};
	}
	const engineProviders = Object.values(PROVIDERS).map((p) => p.engineProvider);
	return {
		$schema: "https://opencode.ai/config.json",
		autoupdate: false,
		share: "disabled",
		enabled_providers: engineProviders,
		provider,
		model: `openai/${ENGINE_MODEL_ID}`,
		small_model: `openai/${ENGINE_MODEL_ID}`,
		// "*" first: the last matching rule wins. The two asks are answered at once by
		// the sidecar's PERMISSION_POLICY (and shown as `permission` events).
		permission: {
			"*": "allow",
			external_directory: "ask",
			doom_loop: "ask",
		},
		// The rules above come after the agents' own and would let `plan` edit: it stays read-only
		// (the sidecar also turns off its writing tools, bash included; see engine/tools.ts).
		agent: { plan: { permission: { edit: "deny", bash: "deny" } } },
	};
}
