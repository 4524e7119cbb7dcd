import { expect, test } from "bun:test";
import { EMPTY_USAGE } from "../../src/engine/translate";
import { endFromEngine, endFromRetries, endFromStall, retryCode } from "../../src/sessions/failure";

test("a retry's code: the provider status the gateway saw wins over the translator's guess from the message", () => {
	expect(retryCode("provider_error", {})).toBe("provider_error");
	expect(retryCode("provider_rate_limited", {})).toBe("provider_rate_limited");
	expect(retryCode("provider_error", { lastStatus: 429 })).toBe("provider_rate_limited");
	expect(retryCode("provider_rate_limited", { lastStatus: 500 })).toBe("provider_error");
	expect(retryCode("provider_rate_limited", { lastStatus: 503 })).toBe("provider_error");
});

test("how a run ends from the engine's outcome, a stall and too many retries", () => {
	const result = { finalMessage: "done", filesModified: ["a.txt"], usage: EMPTY_USAGE };
	expect(endFromEngine({ status: "completed" }, result)).toEqual({ status: "completed", ...result });
	expect(endFromEngine({ status: "aborted" }, result)).toEqual({
		status: "failed",
		code: "engine_error",
		error: "the engine aborted the run",
	});
	expect(endFromEngine({ status: "failed", code: "provider_auth", error: "401" }, result)).toEqual({
		status: "failed",
		code: "provider_auth",
		error: "401",
	});
	expect(endFromStall("silent")).toEqual({ status: "failed", code: "provider_timeout", error: "silent" });
	expect(endFromRetries("provider_rate_limited", "slow down", 3)).toEqual({
		status: "failed",
		code: "provider_rate_limited",
		error: "gave up after 3 retries (PROVIDER_MAX_RETRIES): slow down",
	});
});
