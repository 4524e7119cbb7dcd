/** A standard OpenTelemetry variable the sidecar cannot honour; the message names it. */
export class TracingConfigError extends Error {
	constructor(
		readonly variable: string,
		reason: string,
	) {
		super(`${variable}: ${reason}`);
		this.name = "TracingConfigError";
	}
}

/** What the standard OpenTelemetry variables ask of the sidecar's tracing (pure; see load.ts). */
export interface TracingSettings {
	/** Prompts, completions, tool arguments and outputs go into spans (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT). */
	readonly captureContent: boolean;
	/** The exporter's queue (OTEL_BSP_MAX_QUEUE_SIZE, default 2048): spans beyond it are dropped and counted. */
	readonly maxQueueSize: number;
	/** OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_EXPORT_TIMEOUT, OTEL_BSP_MAX_EXPORT_BATCH_SIZE (the SDK's defaults when unset). */
	readonly batch: { scheduledDelayMillis?: number; exportTimeoutMillis?: number; maxExportBatchSize?: number };
	/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on). */
	readonly sampler: SamplerSetting;
}

/** The spec's samplers (the SDK packages no longer read OTEL_TRACES_SAMPLER themselves). */
export type SamplerSetting =
	| { readonly kind: "always_on" | "always_off" | "parentbased_always_on" | "parentbased_always_off" }
	| { readonly kind: "traceidratio" | "parentbased_traceidratio"; readonly ratio: number };

const SAMPLERS = [
	"always_on",
	"always_off",
	"traceidratio",
	"parentbased_always_on",
	"parentbased_always_off",
	"parentbased_traceidratio",
] as const;

function samplerOf(env: Record<string, string | undefined>): SamplerSetting {
	const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() || "parentbased_always_on";
	const kind = SAMPLERS.find((k) => k === name);
	if (!kind)
		throw new TracingConfigError("OTEL_TRACES_SAMPLER", `must be one of ${SAMPLERS.join(", ")}, got "${name}"`);
	if (kind !== "traceidratio" && kind !== "parentbased_traceidratio") return { kind };
	const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
	const ratio = set(arg) ? Number(arg) : 1;
	if (!(ratio >= 0 && ratio <= 1)) {
		throw new TracingConfigError("OTEL_TRACES_SAMPLER_ARG", `must be a number from 0 to 1, got "${arg}"`);
	}
	return { kind, ratio };
}

function positiveInt(env: Record<string, string | undefined>, name: string): number | undefined {
	const text = env[name]?.trim();
	if (!set(text)) return undefined;
	const n = Number(text);
	if (!Number.isInteger(n) || n < 1) throw new TracingConfigError(name, `must be a positive integer, got "${text}"`);
	return n;
}

const truthy = (v: string | undefined) => v?.trim().toLowerCase() === "true";
const set = (v: string | undefined) => v !== undefined && v.trim() !== "";

/**
 * Tracing is on when an OTLP endpoint is named (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT`), unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`;
 * undefined when off. Only OTLP over HTTP with protobuf is exported: another protocol or exporter
 * is a configuration error that names the variable.
 */
export function tracingSettings(env: Record<string, string | undefined>): TracingSettings | undefined {
	if (truthy(env.OTEL_SDK_DISABLED)) return undefined;
	const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
	if (exporter === "none") return undefined;
	if (!set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && !set(env.OTEL_EXPORTER_OTLP_ENDPOINT)) return undefined;
	if (set(exporter) && exporter !== "otlp") {
		throw new TracingConfigError("OTEL_TRACES_EXPORTER", `only "otlp" (or "none") is supported, got "${exporter}"`);
	}
	for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] as const) {
		const protocol = env[name]?.trim();
		if (set(protocol) && protocol !== "http/protobuf") {
			throw new TracingConfigError(name, `only "http/protobuf" is supported, got "${protocol}"`);
		}
		if (set(protocol)) break; // the traces-specific one wins
	}
	const maxQueueSize = positiveInt(env, "OTEL_BSP_MAX_QUEUE_SIZE") ?? 2048;
	const scheduledDelayMillis = positiveInt(env, "OTEL_BSP_SCHEDULE_DELAY");
	const exportTimeoutMillis = positiveInt(env, "OTEL_BSP_EXPORT_TIMEOUT");
	const maxExportBatchSize = positiveInt(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
	return {
		captureContent: truthy(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT),
		maxQueueSize,
		batch: {
			...(scheduledDelayMillis === undefined ? {} : { scheduledDelayMillis }),
			...(exportTimeoutMillis === undefined ? {} : { exportTimeoutMillis }),
			// The SDK refuses a batch larger than its queue.
			...(maxExportBatchSize === undefined ? {} : { maxExportBatchSize: Math.min(maxExportBatchSize, maxQueueSize) }),
		},
		sampler: samplerOf(env),
	};
}
