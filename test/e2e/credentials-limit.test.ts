import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { postSession, sessionBody } from "../support/api";
import { type CredentialsBackend, startCredentialsBackend } from "../support/credentials-backend";
import { useE2eSidecar } from "../support/e2e";
import { vmHwmKb, vmRssKb } from "../support/proc-stats";
import { readStream } from "../support/sse-client";

/**
 * Containment, issue 19 item 3: the backend's credentials endpoint (or whoever
 * answers at its address) sends a 400 MiB answer to the sidecar's key request.
 * The sidecar process the test started reads 64 KiB of it and hangs up: the
 * follow-up that needed the key is refused naming the limit, and the
 * sidecar's resident memory, and its peak, stay flat (reading the answer whole
 * took it from ~70 MiB to ~870 MiB before the limit).
 */
const SECRET = `shared-${crypto.randomUUID()}`;
const auth = { authorization: `Bearer ${SECRET}` };
const e2e = useE2eSidecar({ sidecar: false, secrets: [SECRET], env: { OPENCODE_SHARED_SECRET: SECRET } });
let backend: CredentialsBackend;
beforeAll(() => {
	backend = startCredentialsBackend();
});
afterAll(async () => {
	await backend.close();
});

const MIB = 1024 * 1024;
const HUGE = 400 * MIB;

describe("containment: a huge credentials answer", () => {
	test("a 400 MiB answer is cut off at 64 KiB: the follow-up gets 409 naming the limit, the sidecar's memory stays flat", async () => {
		const dirs = e2e.makeDirs();
		// The generous timeout lets an unbounded reader read the whole answer instead of timing out first.
		const env = { CREDENTIALS_URL: backend.url, CREDENTIALS_TIMEOUT: "300" };
		const first = await e2e.start({ dirs, env });
		const key = e2e.newKey("sk-before", [{ kind: "text", text: "First run done." }]);
		const body = sessionBody({ model_config: { api_key: key, api_endpoint: e2e.llm.url } });
		const created = await postSession(first.url, body, auth);
		e2e.bodies.push(await created.text());
		expect(created.status).toBe(201);
		const { events } = await readStream(`${first.url}/sessions/${body.session_id}/stream`, { headers: auth });
		e2e.seen.push(events);
		expect(events.at(-1)).toMatchObject({ event: "complete" });
		await first.stop();

		// After a restart the sidecar holds no key: a follow-up without api_key makes it ask the endpoint.
		const second = await e2e.start({ dirs, env });
		backend.answer(body.session_id, { kind: "huge", bytes: HUGE });
		const before = { rss: vmRssKb(second.pid), peak: vmHwmKb(second.pid) };
		const res = await fetch(`${second.url}/sessions/${body.session_id}/messages`, {
			method: "POST",
			headers: { ...auth, "content-type": "application/json" },
			body: JSON.stringify({ prompt: "Now the second part." }),
		});
		const text = await res.text();
		e2e.bodies.push(text);
		const after = { rss: vmRssKb(second.pid), peak: vmHwmKb(second.pid) };
		console.info(
			`400 MiB credentials answer: sidecar VmRSS ${before.rss} → ${after.rss} KiB, VmHWM ${before.peak} → ${after.peak} KiB; endpoint made ${backend.streamed(body.session_id)} bytes`,
		);
		// Flat: well under the 64 MiB an unbounded reader would pass within its first 1/6 of the answer.
		expect(after.rss - before.rss).toBeLessThan(64 * 1024);
		expect(after.peak - before.peak).toBeLessThan(64 * 1024);
		expect(backend.streamed(body.session_id)).toBeLessThan(HUGE / 4);
		expect(res.status).toBe(409);
		expect(JSON.parse(text)).toMatchObject({ code: "credentials_unavailable" });
		expect(text).toContain("the credentials endpoint's answer is larger than 64 KiB (the limit)");
		await second.stop();
	});
});
