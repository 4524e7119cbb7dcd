// The protobufjs root generated from the opentelemetry-proto definitions, as the OpenTelemetry JS
// project shipped it in @opentelemetry/otlp-transformer up to 0.212 (installed under an alias: the
// exporter we test uses the current, hand-written encoder; this decodes independently of it).
import generated from "otlp-transformer-protobufjs/build/src/generated/root.js";

/** One span as the collector received it, with ids in hex and attributes as plain values. */
export interface ReceivedSpan {
	readonly traceId: string;
	readonly spanId: string;
	/** Empty for a root span. */
	readonly parentSpanId: string;
	readonly name: string;
	/** OTLP SpanKind: 1 internal, 2 server, 3 client. */
	readonly kind: number;
	readonly startMs: number;
	readonly endMs: number;
	readonly attributes: Record<string, unknown>;
	readonly events: { name: string; timeMs: number }[];
	/** OTLP status code: 0 unset, 1 ok, 2 error. */
	readonly status: number;
	readonly resource: Record<string, unknown>;
	readonly scope: string;
	/** Every string the span carries (names, attributes, events, resource), for secret scans. */
	readonly text: string;
}

/** How the receiver answers each export. */
export type ReceiverMode = "ok" | "fail" | "hang";

export interface OtlpReceiver {
	/** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT (exports go to `/v1/traces`). */
	readonly url: string;
	readonly spans: ReceivedSpan[];
	/** Export requests received (answered or not). */
	readonly requests: number;
	/** Raw bodies received, for byte-level secret scans. */
	readonly bodies: Uint8Array[];
	mode: ReceiverMode;
	/** Resolves when `pred` holds for the spans received so far (checked on every export). */
	waitFor(pred: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
	stop(): Promise<void>;
}

type Decoded = {
	resourceSpans?: {
		resource?: { attributes?: KeyValue[] };
		scopeSpans?: { scope?: { name?: string }; spans?: RawSpan[] }[];
	}[];
};
type KeyValue = { key: string; value?: AnyValue };
type AnyValue = {
	stringValue?: string;
	boolValue?: boolean;
	intValue?: number | string;
	doubleValue?: number;
	arrayValue?: { values?: AnyValue[] };
};
type RawSpan = {
	traceId: Uint8Array;
	spanId: Uint8Array;
	parentSpanId?: Uint8Array;
	name: string;
	kind?: number;
	startTimeUnixNano: number | string;
	endTimeUnixNano: number | string;
	attributes?: KeyValue[];
	events?: { name: string; timeUnixNano: number | string }[];
	status?: { code?: number };
};

// Its declaration types it as a bare protobufjs Root; the namespaces are there at run time.
// biome-ignore lint/suspicious/noExplicitAny: generated code
const root = generated as any;
const ExportRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const ExportResponse = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");
const ms = (nanos: number | string) => Number(BigInt(String(nanos)) / 1_000_000n);

function anyValue(v: AnyValue | undefined): unknown {
	if (!v) return undefined;
	if (v.stringValue !== undefined) return v.stringValue;
	if (v.boolValue !== undefined) return v.boolValue;
	if (v.intValue !== undefined) return Number(v.intValue);
	if (v.doubleValue !== undefined) return v.doubleValue;
	if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
	return undefined;
}

const attributesOf = (list: KeyValue[] | undefined) =>
	Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));

/** Decodes one OTLP/HTTP protobuf export (ExportTraceServiceRequest) into spans. */
export function decodeExport(body: Uint8Array): ReceivedSpan[] {
	const message = ExportRequest.toObject(ExportRequest.decode(body), { longs: String, bytes: Uint8Array }) as Decoded;
	const out: ReceivedSpan[] = [];
	for (const rs of message.resourceSpans ?? []) {
		const resource = attributesOf(rs.resource?.attributes);
		for (const ss of rs.scopeSpans ?? []) {
			for (const s of ss.spans ?? []) {
				const attributes = attributesOf(s.attributes);
				const events = (s.events ?? []).map((e) => ({ name: e.name, timeMs: ms(e.timeUnixNano) }));
				out.push({
					traceId: hex(s.traceId),
					spanId: hex(s.spanId),
					parentSpanId: hex(s.parentSpanId),
					name: s.name,
					kind: s.kind ?? 0,
					startMs: ms(s.startTimeUnixNano),
					endMs: ms(s.endTimeUnixNano),
					attributes,
					events,
					status: s.status?.code ?? 0,
					resource,
					scope: ss.scope?.name ?? "",
					text: JSON.stringify([s.name, attributes, events, resource]),
				});
			}
		}
	}
	return out;
}

/**
 * A local OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf), as a collector listens on 4318.
 * `mode` decides each answer: ok (200), fail (500), hang (never answers until stopped). `port`:
 * listen where a stopped receiver listened (a collector that went down and came back).
 */
export function startOtlpReceiver(mode: ReceiverMode = "ok", port = 0): OtlpReceiver {
	const spans: ReceivedSpan[] = [];
	const bodies: Uint8Array[] = [];
	const waiters = new Set<() => void>();
	const hanging = new Set<() => void>();
	let requests = 0;
	const server = Bun.serve({
		hostname: "127.0.0.1",
		port,
		idleTimeout: 0,
		async fetch(req) {
			const url = new URL(req.url);
			if (req.method !== "POST" || url.pathname !== "/v1/traces") return new Response("not found", { status: 404 });
			requests++;
			const body = new Uint8Array(await req.arrayBuffer());
			if (receiver.mode === "hang")
				return new Promise<Response>((resolve) => hanging.add(() => resolve(new Response(null, { status: 503 }))));
			if (receiver.mode === "fail") return new Response("collector broken", { status: 500 });
			if (req.headers.get("content-type") !== "application/x-protobuf")
				return new Response("not protobuf", { status: 415 });
			bodies.push(body);
			spans.push(...decodeExport(body));
			for (const w of [...waiters]) w();
			const answer = ExportResponse.encode(ExportResponse.create({})).finish();
			return new Response(answer, { headers: { "content-type": "application/x-protobuf" } });
		},
	});
	const receiver: OtlpReceiver = {
		url: `http://127.0.0.1:${server.port}`,
		spans,
		bodies,
		get requests() {
			return requests;
		},
		mode,
		waitFor(pred, timeoutMs = 60_000) {
			if (pred(spans)) return Promise.resolve([...spans]);
			return new Promise((resolve, reject) => {
				const check = () => {
					if (!pred(spans)) return;
					waiters.delete(check);
					clearTimeout(timer);
					resolve([...spans]);
				};
				const timer = setTimeout(() => {
					waiters.delete(check);
					reject(
						new Error(
							`the receiver did not get the expected spans in ${timeoutMs} ms; got: ${spans.map((s) => s.name).join(", ")}`,
						),
					);
				}, timeoutMs);
				waiters.add(check);
			});
		},
		async stop() {
			for (const h of hanging) h();
			await server.stop(true);
		},
	};
	return receiver;
}

/** The spans of one trace as an indented tree (children by start time), for reports and messages. */
export function spanTree(
	spans: readonly ReceivedSpan[],
	traceId: string,
	show: (s: ReceivedSpan) => string = (s) => s.name,
): string {
	const ofTrace = spans.filter((s) => s.traceId === traceId);
	const ids = new Set(ofTrace.map((s) => s.spanId));
	const lines: string[] = [];
	const walk = (parent: string, depth: number) => {
		const children = ofTrace
			.filter((s) => (depth === 0 ? !ids.has(s.parentSpanId) : s.parentSpanId === parent))
			.sort((a, b) => a.startMs - b.startMs);
		for (const c of children) {
			lines.push(`${"  ".repeat(depth)}${show(c)}`);
			walk(c.spanId, depth + 1);
		}
	};
	walk("", 0);
	return lines.join("\n");
}
