/**
 * Ids unique within one server (a counter) and across servers (a random nonce), so a
 * session whose history spans two scripted servers never sees the same tool call id twice.
 */
export class IdSource {
	readonly #nonce = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
	#serial = 0;

	next(prefix: string): string {
		this.#serial += 1;
		return `${prefix}${this.#nonce}${String(this.#serial).padStart(6, "0")}`;
	}
}
