/**
 * Whether a Content-Type names JSON: `application/json`, with parameters
 * allowed but a charset only if UTF-8 (RFC 8259 §8.1; the body is decoded as
 * UTF-8). Anything else (text/plain, forms, multipart: the types a web page
 * may send to another origin without a CORS preflight) is not. Hand-written:
 * two comparisons, where the `content-type` package would add a dependency
 * for the same split.
 */
export function isJsonMediaType(header: string | null): boolean {
	if (header === null) return false;
	const [type, ...params] = header.split(";");
	if (type?.trim().toLowerCase() !== "application/json") return false;
	return params.every((p) => {
		const [name, value] = p.split("=").map((s) => s.trim().toLowerCase());
		return name !== "charset" || value?.replace(/^"(.*)"$/, "$1") === "utf-8";
	});
}
