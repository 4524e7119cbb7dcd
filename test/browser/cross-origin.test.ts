/**
 * Containment, issue 19 item 2, in a real browser (Debian's Chromium over CDP): a page served from another
 * origin (a second local server, another port of 127.0.0.1: an IP literal, so only the Origin and
 * Sec-Fetch-Site checks can refuse it) sends the sidecar a session as a simple request, the way any web page
 * can without a CORS preflight; and a DNS-rebinding request (`Host: attacker.rebind.example`) reaches the real
 * listening sidecar. Nothing starts, nothing is answered under the foreign name.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sessionBody } from "../support/api";
import { useBrowser } from "../support/browser";
import { useE2eSidecar } from "../support/e2e";
import { getRequest, rawExchange } from "../support/raw-http";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";

const e2e = useE2eSidecar();
const chromium = useBrowser("chromium");

/** The sidecar behind a recording proxy: the test sees what the browser really sent (method, headers). */
let proxy: TcpProxy;
/** The attacker's page: a second HTTP server on another port. */
let attacker: ReturnType<typeof Bun.serve>;
let page = "";
beforeAll(async () => {
	proxy = await startTcpProxy(e2e.sidecar.port);
	attacker = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		fetch: () => new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } }),
	});
});
afterAll(async () => {
	await attacker.stop(true);
	await proxy.close();
});

/** A session the attacker would like to run, with a key the scripted model answers (so a started run shows). */
function attackSession() {
	const key = e2e.newKey("sk-page", [{ kind: "text", text: "ran for the attacker" }]);
	return { key, body: sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } }) };
}

async function sessionIds(): Promise<string[]> {
	const text = await (await fetch(`${e2e.sidecar.url}/sessions`)).text();
	e2e.bodies.push(text);
	return (JSON.parse(text) as { sessions: { session_id: string }[] }).sessions.map((s) => s.session_id);
}

describe("containment: requests from a web page", () => {
	test("a no-cors text/plain fetch of a session from another origin reaches the sidecar and starts nothing", async () => {
		const { key, body } = attackSession();
		page = `<!doctype html><title>attacker</title><script>
			window.sent = fetch(${JSON.stringify(`${proxy.url}/sessions`)}, {
				method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
				body: ${JSON.stringify(JSON.stringify(body))},
			}).then((r) => r.type, (e) => "error: " + e);
		</script>`;
		const tab = await chromium.newPage();
		await tab.goto(`http://127.0.0.1:${attacker.port}/`, { waitUntil: "domcontentloaded" });
		// The answer is opaque to the page; it settles once the sidecar has answered.
		expect(await tab.evaluate(() => (window as unknown as { sent: Promise<string> }).sent)).toBe("opaque");
		await tab.close();

		// It went out as the attack needs it: no preflight, a text/plain POST carrying the foreign Origin.
		const heads = proxy.heads.filter((h) => h.includes("/sessions"));
		expect(heads.some((h) => h.startsWith("OPTIONS"))).toBe(false);
		const post = heads.find((h) => h.startsWith("POST /sessions "));
		expect(post).toBeDefined();
		expect(post?.toLowerCase()).toContain("content-type: text/plain");
		expect(post?.toLowerCase()).toContain(`origin: http://127.0.0.1:${attacker.port}`);
		// And it started nothing: no session, no call to the model with its key.
		expect(await sessionIds()).not.toContain(body.session_id);
		expect(e2e.llm.requests.filter((r) => r.key === key)).toEqual([]);
	});

	test("a text/plain form posted from another origin (the classic CSRF body) starts nothing", async () => {
		const { key, body } = attackSession();
		// `name=value` with the `=` inside the prompt: the body is the session's JSON.
		const json = JSON.stringify({ ...body, prompt: "a=b" });
		const cut = json.indexOf("a=b") + 1;
		page = `<!doctype html><title>attacker</title>
			<form method="POST" enctype="text/plain" action=${JSON.stringify(`${proxy.url}/sessions`)}>
			<input type="hidden" name='${json.slice(0, cut)}' value='${json.slice(cut + 1)}'></form>`;
		const tab = await chromium.newPage();
		await tab.goto(`http://127.0.0.1:${attacker.port}/`, { waitUntil: "domcontentloaded" });
		await Promise.all([tab.waitForNavigation(), tab.$eval("form", (f) => (f as HTMLFormElement).submit())]);
		const shown = await tab.evaluate(() => document.body.textContent ?? "");
		e2e.bodies.push(shown);
		await tab.close();
		const post = proxy.heads.findLast((h) => h.startsWith("POST /sessions "));
		expect(post?.toLowerCase()).toContain(`origin: http://127.0.0.1:${attacker.port}`);
		expect(await sessionIds()).not.toContain(body.session_id);
		expect(e2e.llm.requests.filter((r) => r.key === key)).toEqual([]);
	});

	test("DNS rebinding: the listening sidecar refuses Host attacker.rebind.example (421) on the list and the stream", async () => {
		const { body } = attackSession();
		const created = await fetch(`${e2e.sidecar.url}/sessions`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify(body),
		});
		e2e.bodies.push(await created.text());
		expect(created.status).toBe(201);
		const host = { Host: "attacker.rebind.example" };
		for (const path of ["/sessions", `/sessions/${body.session_id}/stream`, `/sessions/${body.session_id}/status`]) {
			// getRequest writes Host: 127.0.0.1; the rebinding page's browser sends its own name instead.
			const request = getRequest(path).replace("Host: 127.0.0.1", `Host: ${host.Host}`);
			const res = await rawExchange(e2e.sidecar.port, request);
			const text = res.body.toString("utf8");
			e2e.bodies.push(text);
			expect(res.status).toBe(421);
			expect(JSON.parse(text)).toMatchObject({ code: "misdirected_request" });
			expect(text).not.toContain(body.session_id);
			for (const name of Object.keys(res.headers)) expect(name).not.toStartWith("access-control-");
		}
		// The same requests under the pod's address are answered.
		const ok = await rawExchange(e2e.sidecar.port, getRequest(`/sessions/${body.session_id}/status`));
		expect(ok.status).toBe(200);
	});
});
