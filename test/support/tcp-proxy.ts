import { connect, createServer, type Server, type Socket } from "node:net";

/** A TCP proxy in front of a server, whose connections a test can cut at any moment. */
export interface TcpProxy {
	readonly url: string;
	/** Every request head that went through, as text (to see the Last-Event-ID of reconnects). */
	readonly heads: string[];
	/** Destroys every open connection, both sides, as a dropped network path would. */
	cut(): number;
	close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
	const open = new Set<Socket>();
	const heads: string[] = [];
	const server: Server = createServer((client) => {
		const upstream = connect(targetPort, "127.0.0.1");
		open.add(client);
		open.add(upstream);
		client.on("data", (chunk) => {
			const text = chunk.toString("latin1");
			if (/^[A-Z]+ \//.test(text)) heads.push(text.slice(0, text.indexOf("\r\n\r\n") + 1 || 2000));
			upstream.write(chunk);
		});
		upstream.pipe(client);
		const drop = () => {
			client.destroy();
			upstream.destroy();
			open.delete(client);
			open.delete(upstream);
		};
		client.on("error", drop).on("close", drop);
		upstream.on("error", drop).on("close", drop);
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const address = server.address();
	const port = typeof address === "object" && address ? address.port : 0;
	return {
		url: `http://127.0.0.1:${port}`,
		heads,
		cut() {
			const n = open.size;
			for (const s of open) s.destroy();
			open.clear();
			return n;
		},
		close: () =>
			new Promise<void>((r) => {
				for (const s of open) s.destroy();
				server.close(() => r());
			}),
	};
}
