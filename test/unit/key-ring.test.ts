import { expect, test } from "bun:test";
import type { SessionCredentials } from "../../src/gateway/credentials";
import { KeyRing } from "../../src/gateway/key-ring";

const creds = (sessionId: string, apiKey: string): SessionCredentials => ({
	sessionId,
	provider: "openai",
	apiKey,
	endpoint: "https://api.example.test/v1",
	model: "m",
	temperature: 1,
	max_tokens: 100,
});

test("the key ring holds, rotates and drops each session's key, and redacts every key it holds", () => {
	const ring = new KeyRing();
	ring.hold(creds("a", "sk-aaaa"));
	ring.hold(creds("b", "sk-bbbb"));
	expect(ring.get("a")?.apiKey).toBe("sk-aaaa");
	expect(ring.redact("x sk-aaaa y sk-bbbb")).toBe("x [REDACTED] y [REDACTED]");

	// A new key replaces the old one and keeps the call parameters; none is invented for a session without one.
	expect(ring.rotate("a", "sk-a2")).toBe(true);
	expect(ring.get("a")).toEqual({ ...creds("a", "sk-a2") });
	expect(ring.rotate("nobody", "sk-x")).toBe(false);
	expect(ring.has("nobody")).toBe(false);
	expect(ring.redact("sk-aaaa sk-a2")).toBe("sk-aaaa [REDACTED]");

	ring.drop("b");
	expect(ring.get("b")).toBeUndefined();
	expect(ring.redact("sk-bbbb")).toBe("sk-bbbb");
	expect(ring.size).toBe(1);
});
