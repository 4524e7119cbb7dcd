import { describe, expect, it } from "bun:test";
import type { EngineAgent } from "../../src/engine/engine";
import { EngineUnavailable, ValidationFailed } from "../../src/http/errors";
import { AgentCatalogue } from "../../src/sessions/agents";
import { ManualClock } from "../support/manual-clock";

const LIMIT_MS = 30_000;
const AGENTS: EngineAgent[] = [
	{ name: "build", mode: "primary" },
	{ name: "plan", mode: "primary", permission: [{ permission: "edit", pattern: "*", action: "deny" }] },
	{ name: "general", mode: "subagent" },
	{ name: "title", mode: "primary", hidden: true },
];

/** The part of the engine the catalogue asks: its readiness and its list, answered when the test says. */
function engineListing() {
	let answer!: (agents: EngineAgent[]) => void;
	const listed = new Promise<EngineAgent[]>((resolve) => {
		answer = resolve;
	});
	return { engine: { ready: true, notReadyReason: undefined, agents: () => listed }, answer };
}

describe("AgentCatalogue", () => {
	it("gives up on an engine that does not list its agents within the limit on the injected clock", async () => {
		const clock = new ManualClock();
		const { engine } = engineListing();
		let outcome: unknown;
		const chosen = new AgentCatalogue(engine, LIMIT_MS, clock).choose("build").catch((e: unknown) => {
			outcome = e;
		});
		clock.advance(LIMIT_MS - 1);
		await Promise.resolve();
		expect(outcome).toBeUndefined();
		clock.advance(1);
		await chosen;
		expect(outcome).toBeInstanceOf(EngineUnavailable);
		expect((outcome as Error).message).toContain("the engine did not list its agents");
		expect(clock.pendingTimers).toBe(0);
	});

	it("chooses a primary agent from the list in time, read-only when its rules deny edits, and leaves no timer", async () => {
		const clock = new ManualClock();
		const { engine, answer } = engineListing();
		const catalogue = new AgentCatalogue(engine, LIMIT_MS, clock);
		const plan = catalogue.choose("plan");
		answer(AGENTS);
		expect(await plan).toEqual({ name: "plan", readOnly: true });
		expect(await catalogue.choose("build")).toEqual({ name: "build", readOnly: false });
		expect(clock.pendingTimers).toBe(0);
	});

	it("refuses sub-agents and hidden agents, naming the ones a request may use", async () => {
		const { engine, answer } = engineListing();
		answer(AGENTS);
		const catalogue = new AgentCatalogue(engine, LIMIT_MS, new ManualClock());
		for (const name of ["general", "title", "nobody"]) {
			const error = await catalogue.choose(name).catch((e: unknown) => e);
			expect(error).toBeInstanceOf(ValidationFailed);
			expect((error as Error).message).toContain("must be one of: build, plan");
		}
	});
});
