import { describe, expect, test } from "bun:test";
import { isJsonMediaType } from "../../src/http/media-type";
import { hostRules, judgeSource, parseHost, type RequestSource, sameOrigin } from "../../src/http/request-source";

/** The host and origin decisions of src/http/request-source.ts, as plain values. */
const rules = hostRules(["opencode-task", "sidecar.internal.example", ".svc.cluster.local"]);
const req = (over: Partial<RequestSource>): RequestSource => ({
	method: "GET",
	host: "127.0.0.1:3003",
	origin: null,
	fetchSite: null,
	fetchMode: null,
	fetchDest: null,
	...over,
});

describe("containment: requests from a web page (the Host rule)", () => {
	test.each([
		"127.0.0.1:3003",
		"10.1.2.3:3003",
		"10.1.2.3",
		"[::1]:3003",
		"[fd00::1234]:3003",
		"[0:0:0:0:0:0:0:1]",
		"localhost:3003",
		"LOCALHOST",
		"opencode-task:3003",
		"sidecar.internal.example",
		"opencode-backend.tasks.svc.cluster.local:3003",
	])("accepts Host %s", (host) => {
		expect(judgeSource(req({ host }), rules)).toBeUndefined();
	});

	test.each([
		"attacker.rebind.example",
		"evil.com:3003",
		"127.0.0.1.nip.io:3003",
		"localhost.attacker.example",
		"svc.cluster.local", // the suffix alone is not a name under it
		"opencode-task.evil.example",
		"evil.com@127.0.0.1",
		"127.0.0.1:3003/x",
		"[::1",
		"[not-an-ip]:3003",
		"1.2.3:3003",
		"127.0.0.1:99999",
		"a b",
		"",
	])("refuses Host %p (421)", (host) => {
		expect(judgeSource(req({ host }), rules)).toBe("host");
	});

	test("a request without any Host (HTTP/1.0) is accepted: no browser sends one", () => {
		expect(judgeSource(req({ host: undefined }), rules)).toBeUndefined();
	});

	test("parseHost canonicalises IPv6 as an Origin's URL does and keeps the port apart", () => {
		expect(parseHost("[0:0::1]:3003")).toEqual({ hostname: "[::1]", port: "3003", ip: true });
		expect(parseHost("Pod-A:80")).toEqual({ hostname: "pod-a", port: "80", ip: false });
		expect(parseHost("10.0.0.7")).toEqual({ hostname: "10.0.0.7", port: "", ip: true });
	});
});

describe("containment: requests from a web page (the Origin rule)", () => {
	test.each([
		["http://127.0.0.1:3003", "127.0.0.1:3003"],
		["http://localhost:3003", "localhost:3003"],
		["http://[::1]:3003", "[::1]:3003"],
		["http://opencode-task", "opencode-task:80"],
		["https://sidecar.internal.example", "sidecar.internal.example"],
		["https://sidecar.internal.example", "sidecar.internal.example:443"],
	])("same origin: %s for Host %s", (origin, host) => {
		expect(judgeSource(req({ method: "POST", host, origin }), rules)).toBeUndefined();
	});

	test.each([
		["http://127.0.0.1:8080", "127.0.0.1:3003"], // another port: another origin
		["http://attacker.example", "127.0.0.1:3003"],
		["http://localhost:3003", "127.0.0.1:3003"],
		["null", "127.0.0.1:3003"],
		["file://", "127.0.0.1:3003"],
		["http://sidecar.internal.example", "sidecar.internal.example:443"],
		["not a url", "localhost:3003"],
	])("foreign: %s for Host %s (403)", (origin, host) => {
		expect(judgeSource(req({ method: "POST", host, origin }), rules)).toBe("origin");
	});

	test("an Origin with no Host to compare it with is foreign", () => {
		expect(judgeSource(req({ host: undefined, origin: "http://127.0.0.1:3003" }), rules)).toBe("origin");
	});

	test("sameOrigin compares host and effective port, not the spelling", () => {
		const host = parseHost("[::1]:80");
		if (!host) throw new Error("unparsed");
		expect(sameOrigin("http://[0::1]", host)).toBe(true);
		expect(sameOrigin("https://[::1]", host)).toBe(false);
	});
});

describe("containment: requests from a web page (the Sec-Fetch-Site rule)", () => {
	test.each(["cross-site", "same-site", "CROSS-SITE"])("refuses a %s fetch (403)", (fetchSite) => {
		expect(judgeSource(req({ fetchSite, fetchMode: "no-cors" }), rules)).toBe("fetch-site");
		expect(judgeSource(req({ method: "POST", fetchSite, fetchMode: "cors" }), rules)).toBe("fetch-site");
	});

	test("a top-level GET navigation from another site (a link to /ui) is accepted; a frame or a form POST is not", () => {
		const nav = { fetchSite: "cross-site", fetchMode: "navigate", fetchDest: "document" };
		expect(judgeSource(req(nav), rules)).toBeUndefined();
		expect(judgeSource(req({ ...nav, fetchDest: "iframe" }), rules)).toBe("fetch-site");
		expect(judgeSource(req({ ...nav, method: "POST" }), rules)).toBe("fetch-site");
	});

	test.each(["same-origin", "none"])("accepts %s", (fetchSite) => {
		expect(judgeSource(req({ method: "POST", fetchSite, fetchMode: "cors" }), rules)).toBeUndefined();
	});
});

describe("containment: requests from a web page (JSON bodies only)", () => {
	test.each([
		"application/json",
		"Application/JSON",
		"application/json; charset=utf-8",
		"application/json;charset=UTF-8",
		'application/json; charset="utf-8"',
	])("%s is JSON", (type) => {
		expect(isJsonMediaType(type)).toBe(true);
	});

	test.each([
		null,
		"",
		"text/plain",
		"text/plain;charset=UTF-8",
		"application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x",
		"application/json; charset=utf-16",
		"application/vnd.api+json",
		"application/jsonx",
		"*/*",
	])("%p is not", (type) => {
		expect(isJsonMediaType(type)).toBe(false);
	});
});
