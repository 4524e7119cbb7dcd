import { isIPv4, isIPv6 } from "node:net";

/**
 * Whether a request comes from the backend (or a tool, a probe, our own pages)
 * rather than from a web page of another origin or a rebound DNS name. Pure:
 * the HTTP core reads the headers and answers the refusal.
 *
 * - Host: an IP literal (v4, or v6 in brackets; any port), `localhost`, or a
 *   name of `rules` (the pod's name, ALLOWED_HOSTS). A DNS-rebinding page
 *   reaches the sidecar under the attacker's own name, which is none of these.
 *   No Host at all (HTTP/1.0) is accepted: every browser sends one.
 * - Origin, when sent: same origin as the Host (scheme's default port filled
 *   in), else refused; `null` (sandboxed or opaque) is foreign.
 * - Sec-Fetch-Site `cross-site` or `same-site` (another port of the same
 *   address is same-site) is refused except for a top-level GET/HEAD
 *   navigation, which a page cannot read and which carries no body.
 */
export interface HostRules {
	/** Lower-cased names accepted exactly. */
	readonly names: readonly string[];
	/** Lower-cased suffixes, each starting with a dot (`.svc.cluster.local`). */
	readonly suffixes: readonly string[];
}

/** Rules from names and `.suffix` entries (empty entries ignored). */
export function hostRules(entries: readonly string[]): HostRules {
	const clean = entries.map((e) => e.trim().toLowerCase()).filter((e) => e !== "");
	return {
		names: ["localhost", ...clean.filter((e) => !e.startsWith("."))],
		suffixes: clean.filter((e) => e.startsWith(".")),
	};
}

export interface HostAndPort {
	/** Lower-cased; an IPv6 address keeps its brackets, in canonical form. */
	readonly hostname: string;
	/** Empty when not given. */
	readonly port: string;
	readonly ip: boolean;
}

/** A `Host` value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), or undefined when it is not one. */
export function parseHost(value: string): HostAndPort | undefined {
	const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{0,5}))?$/i.exec(value);
	if (!m?.[1]) return undefined;
	const port = m[2] ?? "";
	if (port !== "" && Number(port) > 65535) return undefined;
	const raw = m[1].toLowerCase();
	if (raw.startsWith("[")) {
		if (!isIPv6(raw.slice(1, -1))) return undefined;
		// Canonical form, as the URL of an Origin has it (`[0:0::1]` → `[::1]`).
		return { hostname: new URL(`http://${raw}`).hostname, port, ip: true };
	}
	return { hostname: raw, port, ip: isIPv4(raw) };
}

export function hostAccepted(host: HostAndPort, rules: HostRules): boolean {
	if (host.ip) return true;
	const name = host.hostname;
	return rules.names.includes(name) || rules.suffixes.some((s) => name.length > s.length && name.endsWith(s));
}

/** Whether `origin` (an Origin header) is the origin of a page served under `host`. */
export function sameOrigin(origin: string, host: HostAndPort): boolean {
	let url: URL;
	try {
		url = new URL(origin);
	} catch {
		return false; // `null` and anything else that is not an origin
	}
	if (url.protocol !== "http:" && url.protocol !== "https:") return false;
	const fallback = url.protocol === "https:" ? "443" : "80";
	return url.hostname === host.hostname && (url.port || fallback) === (host.port || fallback);
}

export interface RequestSource {
	readonly method: string;
	/** The Host header, or the authority of the request's URL when there is none; undefined: neither. */
	readonly host: string | undefined;
	readonly origin: string | null;
	readonly fetchSite: string | null;
	readonly fetchMode: string | null;
	readonly fetchDest: string | null;
}

/** Why a request is refused: `host` (421), `origin` or `fetch-site` (403); undefined: accepted. */
export type Refusal = "host" | "origin" | "fetch-site";

export function judgeSource(request: RequestSource, rules: HostRules): Refusal | undefined {
	const host = request.host === undefined ? undefined : parseHost(request.host);
	if (request.host !== undefined && (!host || !hostAccepted(host, rules))) return "host";
	if (request.origin !== null && (!host || !sameOrigin(request.origin, host))) return "origin";
	const site = request.fetchSite?.toLowerCase();
	if (site === "cross-site" || site === "same-site") {
		const topLevel =
			request.fetchMode?.toLowerCase() === "navigate" &&
			(request.fetchDest === null || request.fetchDest.toLowerCase() === "document") &&
			(request.method === "GET" || request.method === "HEAD");
		if (!topLevel) return "fetch-site";
	}
	return undefined;
}
