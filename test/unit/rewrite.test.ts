import { describe, expect, it } from "bun:test";
import { scrub } from "../../src/gateway/credentials";
import { type CallParameters, isOpenAiReasoningModel, rewriteBody } from "../../src/gateway/rewrite";
import type { WireFormat } from "../../src/providers/catalogue";

const params = (p: Partial<CallParameters> = {}): CallParameters => ({
	model: "gpt-4o-mini",
	temperature: 0.3,
	max_tokens: 2000,
	...p,
});

/** A body as the engine sends it, with nested values the rewrite must leave alone. */
const engineBody = (extra: Record<string, unknown> = {}) => ({
	model: "sidecar",
	stream: true,
	messages: [{ role: "user", content: "hi" }],
	tools: [{ name: "bash", input_schema: { type: "object" } }],
	...extra,
});

/** Deep copy, to check the input afterwards. */
const copy = <T>(v: T): T => structuredClone(v);

describe("rewriteBody: every format", () => {
	it.each<WireFormat>(["responses", "chat", "anthropic"])(
		"%s: replaces the model and keeps every other field",
		(format) => {
			const input = engineBody();
			const { body } = rewriteBody(format, input, params({ model: "claude-sonnet-4-5" }));
			expect(body.model).toBe("claude-sonnet-4-5");
			expect(body.stream).toBe(true);
			expect(body.messages).toEqual(input.messages);
			expect(body.tools).toEqual(input.tools);
		},
	);

	it.each<[WireFormat, Record<string, unknown>]>([
		["responses", { temperature: 1, max_output_tokens: 32000, top_p: 0.9 }],
		["chat", { temperature: 1, max_tokens: 32000 }],
		["chat", { max_completion_tokens: 32000 }],
		[
			"anthropic",
			{
				temperature: 1,
				max_tokens: 32000,
				thinking: { type: "enabled", budget_tokens: 16000 },
			},
		],
	])("%s: does not mutate the input body %j", (format, extra) => {
		const input = engineBody(extra);
		const before = copy(input);
		for (const temperature of [0.2, 1])
			for (const model of ["gpt-4o", "o3", "claude-opus-4"])
				for (const max_tokens of [500, 5000, 40000])
					rewriteBody(format, input, params({ model, temperature, max_tokens }));
		expect(input).toEqual(before);
	});
});

describe("rewriteBody: responses", () => {
	it("applies temperature and max_output_tokens", () => {
		const { body, notices } = rewriteBody(
			"responses",
			engineBody({ temperature: 1, max_output_tokens: 32000 }),
			params({ model: "gpt-4.1", temperature: 0.7, max_tokens: 1234 }),
		);
		expect(body.temperature).toBe(0.7);
		expect(body.max_output_tokens).toBe(1234);
		expect(body).not.toHaveProperty("max_tokens");
		expect(notices).toEqual([]);
	});

	it.each(["gpt-5", "gpt-5-mini", "o3", "o4-mini", "openai/gpt-5.1", "O3-PRO"])(
		"drops temperature (and top_p) for %s with a notice",
		(model) => {
			const { body, notices } = rewriteBody(
				"responses",
				engineBody({ temperature: 1, top_p: 0.95 }),
				params({ model, temperature: 0.4, max_tokens: 900 }),
			);
			expect(body).not.toHaveProperty("temperature");
			expect(body).not.toHaveProperty("top_p");
			expect(body.max_output_tokens).toBe(900);
			expect(notices).toHaveLength(1);
			expect(notices[0]).toContain("temperature 0.4");
			expect(notices[0]).toContain(model);
		},
	);
});

describe("rewriteBody: chat", () => {
	it("applies temperature and max_tokens when the engine used max_tokens", () => {
		const { body, notices } = rewriteBody(
			"chat",
			engineBody({ temperature: 1, max_tokens: 32000 }),
			params({ model: "llama-3.1-70b", temperature: 0, max_tokens: 777 }),
		);
		expect(body.temperature).toBe(0);
		expect(body.max_tokens).toBe(777);
		expect(body).not.toHaveProperty("max_completion_tokens");
		expect(notices).toEqual([]);
	});

	it("sets max_tokens when the engine sent no limit", () => {
		const { body } = rewriteBody("chat", engineBody(), params({ max_tokens: 50 }));
		expect(body.max_tokens).toBe(50);
		expect(body).not.toHaveProperty("max_completion_tokens");
	});

	it("uses max_completion_tokens when the engine used it, and removes max_tokens", () => {
		const { body } = rewriteBody(
			"chat",
			engineBody({ max_completion_tokens: 32000, max_tokens: 32000 }),
			params({ max_tokens: 4096 }),
		);
		expect(body.max_completion_tokens).toBe(4096);
		expect(body).not.toHaveProperty("max_tokens");
	});

	it("drops temperature for a reasoning model with a notice", () => {
		const { body, notices } = rewriteBody(
			"chat",
			engineBody({ temperature: 1 }),
			params({ model: "gpt-5-nano", temperature: 1.5 }),
		);
		expect(body).not.toHaveProperty("temperature");
		expect(notices).toEqual(["temperature 1.5 ignored: model gpt-5-nano does not accept a temperature"]);
	});
});

describe("rewriteBody: anthropic", () => {
	const thinking = (budget: number) => ({
		thinking: { type: "enabled", budget_tokens: budget },
	});

	it("applies temperature and max_tokens without thinking", () => {
		const { body, notices } = rewriteBody(
			"anthropic",
			engineBody({ max_tokens: 32000 }),
			params({ model: "claude-haiku-4-5", temperature: 0.2, max_tokens: 3000 }),
		);
		expect(body.temperature).toBe(0.2);
		expect(body.max_tokens).toBe(3000);
		expect(body).not.toHaveProperty("thinking");
		expect(notices).toEqual([]);
	});

	it("does not treat claude models as OpenAI reasoning models", () => {
		const { notices, body } = rewriteBody(
			"anthropic",
			engineBody(),
			params({ model: "claude-opus-4", temperature: 0.5 }),
		);
		expect(body.temperature).toBe(0.5);
		expect(notices).toEqual([]);
	});

	it("turns thinking off with a notice when the temperature is not 1", () => {
		const { body, notices } = rewriteBody(
			"anthropic",
			engineBody({ max_tokens: 32000, ...thinking(16000) }),
			params({ temperature: 0.3, max_tokens: 8000 }),
		);
		expect(body).not.toHaveProperty("thinking");
		expect(body.temperature).toBe(0.3);
		expect(body.max_tokens).toBe(8000);
		expect(notices).toHaveLength(1);
		expect(notices[0]).toContain("thinking");
		expect(notices[0]).toContain("0.3");
	});

	it("keeps thinking at temperature 1 and keeps a budget already below max_tokens", () => {
		const { body, notices } = rewriteBody(
			"anthropic",
			engineBody({ temperature: 1, ...thinking(2000) }),
			params({ temperature: 1, max_tokens: 8000 }),
		);
		expect(body.thinking).toEqual({ type: "enabled", budget_tokens: 2000 });
		expect(body.max_tokens).toBe(8000);
		// Thinking needs temperature 1 or none; the body sends none.
		expect(body).not.toHaveProperty("temperature");
		expect(notices).toEqual([]);
	});

	it.each([8000, 16000])("lowers a thinking budget of %d below max_tokens 8000", (budget) => {
		const { body, notices } = rewriteBody(
			"anthropic",
			engineBody(thinking(budget)),
			params({ temperature: 1, max_tokens: 8000 }),
		);
		const kept = body.thinking as { type: string; budget_tokens: number };
		expect(kept.type).toBe("enabled");
		expect(kept.budget_tokens).toBeLessThan(8000);
		expect(kept.budget_tokens).toBeGreaterThanOrEqual(1024);
		expect(notices).toEqual([]);
	});

	it.each([1024, 500, 1])(
		"turns thinking off with a notice when max_tokens is %d (no room for the minimum budget)",
		(max_tokens) => {
			const { body, notices } = rewriteBody(
				"anthropic",
				engineBody(thinking(1024)),
				params({ temperature: 1, max_tokens }),
			);
			expect(body).not.toHaveProperty("thinking");
			expect(body.max_tokens).toBe(max_tokens);
			expect(body.temperature).toBe(1);
			expect(notices).toHaveLength(1);
			expect(notices[0]).toContain(String(max_tokens));
		},
	);

	it("keeps thinking when max_tokens is just above the minimum budget", () => {
		const { body } = rewriteBody("anthropic", engineBody(thinking(4000)), params({ temperature: 1, max_tokens: 1025 }));
		expect(body.thinking).toEqual({ type: "enabled", budget_tokens: 1024 });
	});

	it("applies the temperature when the engine sent thinking turned off", () => {
		const { body, notices } = rewriteBody(
			"anthropic",
			engineBody({ temperature: 1, thinking: { type: "disabled" } }),
			params({ temperature: 0.3 }),
		);
		expect(body.temperature).toBe(0.3);
		expect(notices).toEqual([]);
	});
});

describe("isOpenAiReasoningModel", () => {
	it.each([
		["o1", true],
		["o3-mini", true],
		["gpt-5", true],
		["GPT-5-codex", true],
		["openrouter/openai/o4-mini", true],
		["gpt-4o", false],
		["gpt-4.1-mini", false],
		["omni-moderation", false],
		["claude-3-opus", false],
		["llama-gpt-5", false],
	])("%s → %p", (model, expected) => {
		expect(isOpenAiReasoningModel(model)).toBe(expected);
	});
});

describe("scrub", () => {
	it("replaces every occurrence of the secret", () => {
		expect(scrub("key sk-123 and again sk-123!", "sk-123")).toBe("key [REDACTED] and again [REDACTED]!");
	});

	it("treats the secret literally, not as a pattern", () => {
		expect(scrub("a.b*c$& a.b*c", "a.b*c$&")).toBe("[REDACTED] a.b*c");
		expect(scrub("axbyc", "a.b")).toBe("axbyc");
	});

	it("leaves text without the secret unchanged", () => {
		expect(scrub("nothing here", "sk-123")).toBe("nothing here");
	});

	it("leaves text unchanged for an empty secret", () => {
		expect(scrub("abc", "")).toBe("abc");
	});

	it("handles back-to-back occurrences and multi-line text", () => {
		expect(scrub("SSx\nSS", "S")).toBe("[REDACTED][REDACTED]x\n[REDACTED][REDACTED]");
	});
});
