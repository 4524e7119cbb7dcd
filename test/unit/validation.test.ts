import { describe, expect, it } from "bun:test";
import { type TSchema, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { NEVER_ON, TOOL_NAMES } from "../../src/engine/tools";
import { describeValidation, type FieldProblem } from "../../src/http/validation";
import { PROVIDER_NAMES } from "../../src/providers/catalogue";
import { CreateSessionBody } from "../../src/sessions/schemas";

const KEY = "SENTINEL-KEY-123";
/** Every string the tests put into a body; none may come back in a problem. */
const SENTINELS = [
	KEY,
	"SENTINEL-ID",
	"SENTINEL-PROMPT",
	"SENTINEL-PROVIDER",
	"SENTINEL-MODEL",
	"SENTINEL-TOOL",
	"SENTINEL-URL",
	"SENTINEL-PROP",
	"SENTINEL-VALUE",
	"SENTINEL-VERSION",
	"SENTINEL-SYSTEM",
];

const valid = () => ({
	session_id: "123e4567-e89b-12d3-a456-426614174000",
	prompt: "SENTINEL-PROMPT",
	model_config: {
		provider: "openai",
		model: "SENTINEL-MODEL",
		api_key: KEY,
		temperature: 0.5,
		max_tokens: 1000,
		enabled_tools: ["bash", "read"],
	} as Record<string, unknown>,
	"SENTINEL-PROP": "SENTINEL-VALUE",
});

type Body = ReturnType<typeof valid>;
const withConfig = (patch: Record<string, unknown>): Body => {
	const body = valid();
	body.model_config = { ...body.model_config, ...patch };
	return body;
};
const without = (field: string): Record<string, unknown> => {
	const { [field]: _dropped, ...rest } = valid() as Record<string, unknown>;
	return rest;
};
const withoutConfig = (field: string): Body => {
	const body = valid();
	const { [field]: _dropped, ...rest } = body.model_config;
	body.model_config = rest;
	return body;
};

const describe_ = (schema: TSchema, value: unknown): FieldProblem[] =>
	describeValidation([...Value.Errors(schema, value)]);
const problems = (value: unknown) => describe_(CreateSessionBody, value);

const ONE_OF_PROVIDERS = `must be one of: ${PROVIDER_NAMES.join(", ")}`;
const ONE_OF_TOOLS = `must be one of: ${[...TOOL_NAMES, ...NEVER_ON].join(", ")}`;

describe("describeValidation with CreateSessionBody", () => {
	it("reports nothing for a valid body with unknown extra fields", () => {
		expect(problems(valid())).toEqual([]);
	});

	it.each([
		["session_id", without("session_id")],
		["prompt", without("prompt")],
		["model_config", without("model_config")],
	])("reports a missing %s as required", (field, body) => {
		expect(problems(body)).toEqual([{ field, reason: "is required" }]);
	});

	it.each(["provider", "model", "api_key", "temperature", "max_tokens", "enabled_tools"])(
		"reports a missing model_config.%s as required",
		(field) => {
			expect(problems(withoutConfig(field))).toEqual([{ field: `model_config.${field}`, reason: "is required" }]);
		},
	);

	it("names each missing field once for an empty body", () => {
		expect(problems({})).toEqual([
			{ field: "session_id", reason: "is required" },
			{ field: "prompt", reason: "is required" },
			{ field: "model_config", reason: "is required" },
		]);
	});

	it("names the body itself when it is not an object", () => {
		expect(problems("SENTINEL-VALUE")).toEqual([{ field: "body", reason: "must be object" }]);
	});

	it("asks for a UUID when session_id is not one", () => {
		const body = { ...valid(), session_id: "SENTINEL-ID" };
		expect(problems(body)).toEqual([{ field: "session_id", reason: "must be a UUID" }]);
	});

	it("lists the providers when the provider is unknown", () => {
		expect(problems(withConfig({ provider: "SENTINEL-PROVIDER" }))).toEqual([
			{ field: "model_config.provider", reason: ONE_OF_PROVIDERS },
		]);
	});

	it("lists the tools and points at the item when a tool is unknown", () => {
		expect(problems(withConfig({ enabled_tools: ["bash", "SENTINEL-TOOL"] }))).toEqual([
			{ field: "model_config.enabled_tools.1", reason: ONE_OF_TOOLS },
		]);
	});

	it.each(["ftp://SENTINEL-URL", "SENTINEL-URL", "https://SENTINEL URL", ""])(
		"asks for an http(s) URL when api_endpoint is %p",
		(api_endpoint) => {
			expect(problems(withConfig({ api_endpoint }))).toEqual([
				{
					field: "model_config.api_endpoint",
					reason: "must be an http:// or https:// URL",
				},
			]);
		},
	);

	it.each<[string, Record<string, unknown>, string, RegExp]>([
		["a string temperature", { temperature: "SENTINEL-VALUE" }, "temperature", /^must be number$/],
		["a temperature above 2", { temperature: 2.5 }, "temperature", /^must be .*\b2\b/],
		["a negative temperature", { temperature: -1 }, "temperature", /^must be .*\b0\b/],
		["fractional max_tokens", { max_tokens: 1.5 }, "max_tokens", /^must be integer$/],
		["zero max_tokens", { max_tokens: 0 }, "max_tokens", /^must be .*\b1\b/],
		["an empty model", { model: "" }, "model", /^must be .*\b1\b/],
		["a numeric api_key", { api_key: 12345 }, "api_key", /^must be string$/],
		["an empty api_key", { api_key: "" }, "api_key", /^must be .*\b1\b/],
		["enabled_tools as a string", { enabled_tools: "SENTINEL-TOOL" }, "enabled_tools", /^must be array$/],
		[
			"too many enabled_tools",
			{ enabled_tools: Array.from({ length: 65 }, () => "bash") },
			"enabled_tools",
			/^must be .*\b64\b/,
		],
		["a numeric model_version", { model_version: 5 }, "model_version", /^must be string$/],
	])("explains %s", (_label, patch, field, reason) => {
		const found = problems(withConfig(patch));
		expect(found).toHaveLength(1);
		expect(found[0]?.field).toBe(`model_config.${field}`);
		expect(found[0]?.reason).toMatch(reason);
	});

	it("reports several bad fields, one problem per field, at most ten", () => {
		const body = {
			session_id: "SENTINEL-ID",
			prompt: "",
			system_prompt: 42,
			model_config: {
				provider: "SENTINEL-PROVIDER",
				model: 1,
				api_key: null,
				temperature: "SENTINEL-VALUE",
				max_tokens: "SENTINEL-VALUE",
				api_endpoint: "SENTINEL-URL",
				enabled_tools: Array(12).fill("SENTINEL-TOOL"),
			},
		};
		const found = problems(body);
		expect(found).toHaveLength(10);
		expect(new Set(found.map((p) => p.field)).size).toBe(10);
		expect(found.slice(0, 3)).toEqual([
			{ field: "session_id", reason: "must be a UUID" },
			{ field: "prompt", reason: expect.stringMatching(/^must be .*\b1\b/) },
			{ field: "model_config.provider", reason: ONE_OF_PROVIDERS },
		]);
	});
});

describe("describeValidation never echoes input", () => {
	const bodies: [string, unknown][] = [
		["a bad session_id", { ...valid(), session_id: "SENTINEL-ID" }],
		["a bad provider", withConfig({ provider: "SENTINEL-PROVIDER" })],
		["a bad tool", withConfig({ enabled_tools: ["SENTINEL-TOOL"] })],
		["a bad endpoint", withConfig({ api_endpoint: `http://x/${KEY} ` })],
		["an over-long api_key", withConfig({ api_key: KEY.repeat(300) })],
		["an over-long model", withConfig({ model: "SENTINEL-MODEL".repeat(20) })],
		["an over-long model_version", withConfig({ model_version: "SENTINEL-VERSION".repeat(10) })],
		["a key where a number belongs", withConfig({ temperature: KEY, max_tokens: KEY })],
		["a key as the model_config", { ...valid(), model_config: KEY }],
		["a key as the prompt's type", { ...valid(), prompt: [KEY] }],
		["a numeric system_prompt", { ...valid(), system_prompt: { [KEY]: KEY } }],
		["an over-long system prompt", { ...valid(), system_prompt: "SENTINEL-SYSTEM".repeat(5000) }],
		["a key as the body", KEY],
		["an array body", [KEY, "SENTINEL-VALUE"]],
		[
			"sentinel keys everywhere",
			{
				[KEY]: KEY,
				"SENTINEL-PROP": { [KEY]: "SENTINEL-VALUE" },
				model_config: { [KEY]: KEY, api_key: KEY },
			},
		],
	];

	it.each(bodies)("%s", (_label, body) => {
		const found = problems(body);
		expect(found.length).toBeGreaterThan(0);
		const text = JSON.stringify(found);
		for (const s of SENTINELS) expect(text).not.toContain(s);
		// And every field is a path into the schema, not into the input.
		for (const p of found) expect(p.field).toMatch(/^(body|[a-z_]+(\.[a-z_0-9]+)*)$/);
	});

	it("names the parent, not the property, when a strict object gets an unknown property", () => {
		const Strict = Type.Object(
			{
				name: Type.String(),
				inner: Type.Object({ n: Type.Number() }, { additionalProperties: false }),
			},
			{ additionalProperties: false },
		);
		const found = describe_(Strict, {
			name: "ok",
			[KEY]: "SENTINEL-VALUE",
			inner: { n: 1, "SENTINEL-PROP": KEY },
		});
		expect(found).toEqual([
			{ field: "body", reason: "has a property that is not allowed" },
			{ field: "inner", reason: "has a property that is not allowed" },
		]);
		const text = JSON.stringify(found);
		for (const s of SENTINELS) expect(text).not.toContain(s);
	});
});
