import { expect, test } from "bun:test";
import { parseConfig } from "../../src/config/parse";
import { sessionsSettings } from "../../src/sessions/settings";

test("the sessions layer's slice carries each variable to the component that reads it", () => {
	const config = parseConfig(
		{
			WORKSPACE_DIR: "/tmp/ws-slice",
			STATE_DIR: "/tmp/state-slice",
			SESSION_TIMEOUT: "123",
			QUESTION_TIMEOUT: "45",
			PROVIDER_MAX_RETRIES: "7",
			MAX_STORED_SESSIONS: "9",
			MAX_CONCURRENT_SESSIONS: "3",
			WORKSPACE_GC_INTERVAL: "600",
			RESUME_INTERRUPTED: "false",
		},
		process.cwd(),
	);
	const s = sessionsSettings(config);
	expect(s.executor).toMatchObject({
		sessionTimeoutMs: 123_000,
		questionTimeoutMs: 45_000,
		maxRetries: 7,
		maxStoredSessions: 9,
		resumeInterrupted: false,
		workspaceDir: "/tmp/ws-slice",
		engineCallTimeoutMs: config.engineCallTimeoutMs,
		permissionPolicy: config.permissionPolicy,
	});
	expect(s.workspace).toEqual({
		workspaceDir: "/tmp/ws-slice",
		stateDir: "/tmp/state-slice",
		workspaceGcIntervalMs: config.workspaceGcIntervalMs,
	});
	expect(config.workspaceGcIntervalMs).toBe(600_000);
	expect(s.maxConcurrentSessions).toBe(3);
	expect(s.resumeInterrupted).toBe(false);
	// A slice, not the whole configuration.
	expect(Object.keys(s).sort()).toEqual([
		"engineCallTimeoutMs",
		"executor",
		"maxConcurrentSessions",
		"resumeInterrupted",
		"workspace",
	]);
});
