import { TraceFlags } from "@opentelemetry/api";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace";

/**
 * In front of the batch processor: holds at most `max` spans between their end and their
 * export's answer (queued, or in an export to a slow collector), and drops and counts the rest.
 * The batch processor bounds its queue too, but counts its drops only in a log line; this is where
 * `/metrics` learns of them. Its own limit is the same, so it never drops first.
 */
export class BoundedProcessor implements SpanProcessor {
	private pending = 0;

	constructor(
		private readonly inner: SpanProcessor,
		private readonly max: number,
		private readonly onDropped: (count: number) => void,
	) {}

	onStart(span: Span, parentContext: Parameters<SpanProcessor["onStart"]>[1]): void {
		this.inner.onStart(span, parentContext);
	}

	onEnd(span: ReadableSpan): void {
		// Unsampled spans are never exported (the batch processor skips them too).
		if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
		if (this.pending >= this.max) {
			this.onDropped(1);
			return;
		}
		this.pending++;
		this.inner.onEnd(span);
	}

	/** An export of `count` spans was answered (either way): they no longer hold memory. */
	settled(count: number): void {
		this.pending = Math.max(0, this.pending - count);
	}

	forceFlush(): Promise<void> {
		return this.inner.forceFlush();
	}

	shutdown(): Promise<void> {
		return this.inner.shutdown();
	}
}

/** Tells, for every export, how many spans it carried and whether the collector took them. */
export class CountingExporter implements SpanExporter {
	constructor(
		private readonly inner: SpanExporter,
		private readonly onSettled: (count: number, ok: boolean) => void,
	) {}

	export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
		let answered = false;
		this.inner.export(spans, (result) => {
			if (!answered) {
				answered = true;
				this.onSettled(spans.length, result.code === ExportResultCode.SUCCESS);
			}
			resultCallback(result);
		});
	}

	shutdown(): Promise<void> {
		return this.inner.shutdown();
	}

	forceFlush(): Promise<void> {
		return this.inner.forceFlush?.() ?? Promise.resolve();
	}
}
