/**
 * The idle-memory baseline: a bare Elysia app (one route, no log, no
 * metrics, no engine) on the same Bun, so the sidecar's idle RSS can be read
 * as a ratio to it. Started by bench/lib/child.ts; driven over IPC.
 */
import { Elysia } from "elysia";
import { answerRequests } from "../lib/ipc";
import type { Reply, Request } from "../lib/protocol";

const app = new Elysia().get("/healthz", () => ({ status: "ok" })).listen({ hostname: "127.0.0.1", port: 0 });
process.send?.({ op: "hello", port: app.server?.port ?? 0, pid: process.pid });

async function answer(req: Request): Promise<Reply> {
	if (req.op !== "stop") throw new Error(`${req.op} is not served here`);
	await app.stop(true);
	setTimeout(() => process.exit(0), 10);
	return { op: "stop" };
}

answerRequests(answer);
process.on("disconnect", () => process.exit(1));
