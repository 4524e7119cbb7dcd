/** Calls to the sidecar's API with the tab's bearer token. */

const TOKEN_KEY = "opencode-sidecar.token";

/** 401 from the API: no token, or the wrong one. */
export class NeedsToken extends Error {
	constructor(readonly hadToken: boolean) {
		super(hadToken ? "401: token rejected" : "401: token needed");
	}
}

export class ApiError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
	) {
		super(`${status} ${code}: ${message}`);
	}
}

/** The shared secret for this tab only: sessionStorage, never localStorage or a cookie. */
export function getToken(): string | null {
	return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
	if (token) sessionStorage.setItem(TOKEN_KEY, token);
	else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders(extra: Record<string, string> = {}): Headers {
	const headers = new Headers(extra);
	const token = getToken();
	if (token) headers.set("authorization", `Bearer ${token}`);
	return headers;
}

/** Throws NeedsToken on 401 and ApiError (with the envelope's code and message) on any other error status. */
export async function check(res: Response): Promise<Response> {
	if (res.status === 401) throw new NeedsToken(getToken() !== null);
	if (!res.ok) {
		const body = (await res.json().catch(() => ({}))) as { code?: string; error?: string };
		throw new ApiError(res.status, body.code ?? "error", body.error ?? res.statusText);
	}
	return res;
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
	const headers = authHeaders(init.body === undefined ? {} : { "content-type": "application/json" });
	const res = await fetch(path, {
		method: init.method ?? "GET",
		headers,
		cache: "no-store",
		...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
	});
	return (await (await check(res)).json()) as T;
}
