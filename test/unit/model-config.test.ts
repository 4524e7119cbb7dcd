import { describe, expect, test } from "bun:test";
import { buildEngineConfig } from "../../src/engine/config";
import { PROVIDER_NAMES, PROVIDERS } from "../../src/providers/catalogue";
import { CallSettings, callSettingsOf, ModelConfig, storedCallSettings } from "../../src/providers/model-config";

describe("model_config: the call settings declared once", () => {
	test("every call setting is a field of the request's model_config, with the same rules", () => {
		for (const [name, schema] of Object.entries(CallSettings.properties)) {
			expect(ModelConfig.properties[name as keyof typeof ModelConfig.properties]).toEqual(schema);
		}
	});

	test("the settings of a model_config are picked without its key, endpoint or tools", () => {
		const mc = {
			provider: "openai",
			model: "m",
			api_key: "sk-secret",
			temperature: 0.2,
			max_tokens: 99,
			enabled_tools: ["read"],
			api_endpoint: "https://example.test/v1",
		};
		expect(callSettingsOf(mc)).toEqual({ temperature: 0.2, max_tokens: 99 });
	});

	test("a record written before a setting was stored gets its default; a stored one is kept", () => {
		expect(storedCallSettings({})).toEqual({ temperature: 1, max_tokens: 4096 });
		expect(storedCallSettings({ temperature: 0, max_tokens: 5 })).toEqual({ temperature: 0, max_tokens: 5 });
	});
});

describe("providers declared once", () => {
	test("the names a request may give are the catalogue's entries", () => {
		expect(PROVIDER_NAMES).toEqual(Object.keys(PROVIDERS) as typeof PROVIDER_NAMES);
	});

	test("the engine's configuration has every provider, loaded by the package its entry names", () => {
		const config = buildEngineConfig("http://127.0.0.1:1", "token") as {
			provider: Record<string, { npm?: string; options: { baseURL: string } }>;
			enabled_providers: string[];
		};
		for (const [name, spec] of Object.entries(PROVIDERS)) {
			const entry = config.provider[spec.engineProvider];
			expect(entry?.options.baseURL).toBe(`http://127.0.0.1:1/${name}`);
			expect(entry?.npm).toBe("npm" in spec ? spec.npm.package : undefined);
			expect(config.enabled_providers).toContain(spec.engineProvider);
		}
	});
});
