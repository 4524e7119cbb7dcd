/**
 * Pieces of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format).
 * Pure: strings in, strings out.
 */

/** The `Content-Type` of a scrape answer in this format. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Whether `name` may name a metric. */
export function isMetricName(name: string): boolean {
	return METRIC_NAME.test(name);
}

/** Whether `name` may name a label (names starting with `__` are reserved for Prometheus). */
export function isLabelName(name: string): boolean {
	return LABEL_NAME.test(name) && !name.startsWith("__");
}

/** A `# HELP` docstring: backslash and line feed escaped. */
export function escapeHelp(text: string): string {
	return text.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
	return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** `name="value",...` for the pairs given, in their order; no braces. */
export function labelPairs(names: readonly string[], values: readonly string[]): string {
	return names.map((name, i) => `${name}="${escapeLabelValue(values[i] ?? "")}"`).join(",");
}

/** A sample value as Go's `ParseFloat` reads it: `NaN`, `+Inf`, `-Inf` or a decimal number. */
export function formatValue(value: number): string {
	if (Number.isNaN(value)) return "NaN";
	if (value === Number.POSITIVE_INFINITY) return "+Inf";
	if (value === Number.NEGATIVE_INFINITY) return "-Inf";
	return String(value);
}

/** One sample line; `labels` is the output of `labelPairs` (empty for none). */
export function sampleLine(name: string, labels: string, value: number): string {
	return labels === "" ? `${name} ${formatValue(value)}` : `${name}{${labels}} ${formatValue(value)}`;
}
