/**
 * A load generator in a process of its own, so that what it measures is not
 * slowed by the bench's other clients (hundreds of SSE subscribers) sharing
 * its event loop. Started by bench/lib/child.ts; driven over IPC.
 */
import { now } from "../lib/clock";
import { answerRequests } from "../lib/ipc";
import { constantRate } from "../lib/load";
import type { Reply, Request } from "../lib/protocol";

process.send?.({ op: "hello", port: 0, pid: process.pid });

answerRequests(async (req: Request): Promise<Reply> => {
	switch (req.op) {
		case "clock":
			return { op: "clock", at: now() };
		case "load":
			return { op: "load", ...(await constantRate(req.url, req.perSecond, req.seconds)) };
		case "stop":
			setTimeout(() => process.exit(0), 10);
			return { op: "stop" };
		default:
			throw new Error(`loadgen does not do ${req.op}`);
	}
});
process.on("disconnect", () => process.exit(1));
