/**
 * Turns schema validation failures into `{field, reason}` without the value
 * that failed: Elysia's own message quotes the input (`found`), which would
 * echo API keys back.
 */
export interface FieldProblem {
	readonly field: string;
	readonly reason: string;
}

interface SchemaError {
	readonly path?: string;
	readonly message?: string;
	readonly schema?: Record<string, unknown>;
	readonly type?: number;
}

const UUID_PATTERN = "^[0-9a-fA-F]{8}-";

function reasonFor(e: SchemaError): string {
	if (e.message === "Expected required property") return "is required";
	const s = e.schema ?? {};
	const aboutPattern = e.message?.startsWith("Expected string to match") ?? false;
	const options = Array.isArray(s.anyOf) ? (s.anyOf as Record<string, unknown>[]).map((o) => o.const) : [];
	if (options.length > 0 && options.every((o) => typeof o === "string")) return `must be one of: ${options.join(", ")}`;
	if (aboutPattern && typeof s.pattern === "string" && s.pattern.startsWith(UUID_PATTERN)) return "must be a UUID";
	if (aboutPattern && typeof s.pattern === "string" && s.pattern.startsWith("^https?"))
		return "must be an http:// or https:// URL";
	if (aboutPattern && typeof s.pattern === "string" && s.pattern.startsWith("^[\\x21"))
		return "must be visible ASCII characters only";
	const message = e.message ?? "is invalid";
	if (message === "Expected required property") return "is required";
	// TypeBox's messages describe the schema only ("Expected string", "Expected integer to be greater or equal to 1").
	return message.replace(/^Expected /, "must be ").replace(/^Unexpected property$/, "is not allowed");
}

/** The field path in dotted form: `/model_config/api_key` → `model_config.api_key`. */
const fieldOf = (path: string | undefined): string => (path ?? "").replace(/^\//, "").replaceAll("/", ".") || "body";

export function describeValidation(errors: readonly SchemaError[]): FieldProblem[] {
	const seen = new Set<string>();
	const out: FieldProblem[] = [];
	for (const e of errors) {
		// The name of an unexpected property is input: name its parent instead.
		const unexpected = e.message === "Unexpected property";
		const field = unexpected ? fieldOf(e.path?.replace(/\/[^/]*$/, "")) : fieldOf(e.path);
		if (seen.has(field)) continue;
		seen.add(field);
		out.push({
			field,
			reason: unexpected ? "has a property that is not allowed" : reasonFor(e),
		});
		if (out.length >= 10) break;
	}
	return out;
}
