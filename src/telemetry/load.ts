import type { Config } from "../config/parse";
import { NO_TRACING, type Tracing } from "./port";
import { tracingSettings } from "./settings";

/**
 * The sidecar's tracing, from the standard OpenTelemetry variables: off (the default) answers
 * {@link NO_TRACING} without loading any OpenTelemetry module; on imports the SDK (otel.ts) now.
 * Throws TracingConfigError for a variable it cannot honour.
 */
export async function loadTracing(
	env: Record<string, string | undefined>,
	config: Pick<Config, "podName" | "podNamespace" | "podUid">,
	version: string,
): Promise<Tracing> {
	const settings = tracingSettings(env);
	if (!settings) return NO_TRACING;
	const { startOtelTracing } = await import("./otel");
	return startOtelTracing({
		settings,
		version,
		pod: { name: config.podName, namespace: config.podNamespace, uid: config.podUid },
	});
}
