import type { Envelope, Reply, Request } from "./protocol";

/** In a bench child: answers each request from the parent, errors included. */
export function answerRequests(answer: (req: Request) => Promise<Reply>): void {
	process.on("message", (message: Envelope<Request>) => {
		answer(message).then(
			(reply) => process.send?.({ ...reply, seq: message.seq }),
			(error: unknown) =>
				process.send?.({
					op: "error",
					message: error instanceof Error ? error.message : String(error),
					seq: message.seq,
				}),
		);
	});
}
