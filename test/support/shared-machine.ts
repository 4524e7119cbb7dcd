/**
 * Engine timeouts for sidecars started by tests, under the test's own `env`:
 * the suite runs on shared 2-core machines (several test files at once),
 * where OpenCode 1.18 was seen to take 25-120 s to listen (at load 20-40) and over 10 s to
 * create its first session. The production defaults (30 s, 10 s) would turn
 * that slowness into failures that say nothing about the code; a test of
 * these timeouts sets them itself.
 */
export const SHARED_MACHINE_TIMEOUTS: Readonly<Record<string, string>> = {
	ENGINE_START_TIMEOUT: "120",
	ENGINE_CALL_TIMEOUT: "30",
};
