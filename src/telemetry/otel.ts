import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
	AlwaysOffSampler,
	AlwaysOnSampler,
	BatchSpanProcessor,
	ParentBasedSampler,
	type Sampler,
	TraceIdRatioBasedSampler,
	TracerProvider,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { BoundedProcessor, CountingExporter } from "./bounded-export";
import type { DropReason, Tracing } from "./port";
import { RunSpans } from "./run-spans";
import type { SamplerSetting, TracingSettings } from "./settings";

export interface OtelDeps {
	readonly settings: TracingSettings;
	readonly version: string;
	/** The downward-API values (POD_NAME, POD_NAMESPACE, POD_UID); empty ones are left out. */
	readonly pod: { readonly name: string; readonly namespace: string; readonly uid: string };
	readonly now?: () => number;
}

/**
 * Tracing on: the OpenTelemetry SDK exporting OTLP/HTTP protobuf (the exporter reads the standard
 * OTEL_EXPORTER_OTLP_* variables, the resource OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES;
 * the sampler and the batch processor's OTEL_BSP_* come from settings.ts, as the SDK 3.x
 * packages leave those variables to the SDK-wide configuration we do not load). Loaded only by
 * load.ts, only when tracing is on. No global provider or context manager is registered: spans
 * are parented explicitly (run-spans.ts), so nothing else in the process is instrumented.
 */
export function startOtelTracing(deps: OtelDeps): Tracing {
	const { settings, pod } = deps;
	const ours = resourceFromAttributes({
		[ATTR_SERVICE_NAME]: "opencode-sidecar",
		[ATTR_SERVICE_VERSION]: deps.version,
		...(pod.name ? { "k8s.pod.name": pod.name } : {}),
		...(pod.namespace ? { "k8s.namespace.name": pod.namespace } : {}),
		...(pod.uid ? { "k8s.pod.uid": pod.uid } : {}),
	});
	// Later wins: the operator's OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES over ours.
	const resource = defaultResource()
		.merge(ours)
		.merge(detectResources({ detectors: [envDetector] }));
	const dropListeners = new Set<(reason: DropReason, count: number) => void>();
	const dropped = (reason: DropReason, count: number) => {
		for (const l of dropListeners) l(reason, count);
	};
	let bounded: BoundedProcessor | undefined;
	const exporter = new CountingExporter(new OTLPTraceExporter(), (count, ok) => {
		bounded?.settled(count);
		if (!ok) dropped("export_failed", count);
	});
	const batch = new BatchSpanProcessor({ exporter, maxQueueSize: settings.maxQueueSize, ...settings.batch });
	bounded = new BoundedProcessor(batch, settings.maxQueueSize, (n) => dropped("queue_full", n));
	const provider = new TracerProvider({ resource, sampler: samplerFor(settings.sampler), spanProcessors: [bounded] });
	const now = deps.now ?? Date.now;
	const spans = new RunSpans({
		tracer: provider.getTracer("opencode-sidecar", deps.version),
		propagator: new W3CTraceContextPropagator(),
		captureContent: settings.captureContent,
		now,
	});
	return {
		enabled: true,
		requested: (id, headers) => spans.requested(id, headers),
		transition: (step) => spans.transition(step),
		stored: (id, event) => spans.stored(id, event),
		keyWait: (id, reason) => spans.keyWait(id, reason),
		llmCall: (id, call) => spans.llmCall(id, call),
		traceId: (id) => spans.traceId(id),
		onDropped(listener) {
			dropListeners.add(listener);
		},
		async shutdown(timeoutMs) {
			spans.closeAll();
			let timer: ReturnType<typeof setTimeout> | undefined;
			const late = new Promise<void>((resolve) => {
				timer = setTimeout(resolve, timeoutMs);
			});
			// A collector that hangs must not hold the shutdown past its budget: what is not sent by then is lost.
			await Promise.race([provider.shutdown().catch(() => undefined), late]);
			clearTimeout(timer);
		},
	};
}

function samplerFor(s: SamplerSetting): Sampler {
	switch (s.kind) {
		case "always_on":
			return new AlwaysOnSampler();
		case "always_off":
			return new AlwaysOffSampler();
		case "traceidratio":
			return new TraceIdRatioBasedSampler(s.ratio);
		case "parentbased_always_on":
			return new ParentBasedSampler({ root: new AlwaysOnSampler() });
		case "parentbased_always_off":
			return new ParentBasedSampler({ root: new AlwaysOffSampler() });
		case "parentbased_traceidratio":
			return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.ratio) });
	}
}
