/**
 * A client that sends one request and then stops reading, in its own process
 * so nothing in the test's event loop drains its socket: the kernel buffers
 * fill and the server sees real backpressure.
 *
 *   bun test/support/stuck-client.ts <port> <request-file> <output-file>
 *
 * Prints `sent` once the request is written. On a `read` line on stdin it
 * resumes, reads until the server closes (or 3 s pass with nothing new),
 * writes everything it received to <output-file> and prints `done <bytes>`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";

const [port, requestFile, outputFile] = process.argv.slice(2);
if (!port || !requestFile || !outputFile) throw new Error("usage: stuck-client <port> <request-file> <output-file>");

const chunks: Buffer[] = [];
const socket = connect(Number(port), "127.0.0.1");
socket.pause();
socket.on("error", () => {});
socket.on("connect", () => {
	socket.write(readFileSync(requestFile), () => process.stdout.write("sent\n"));
});

let finished = false;
const finish = () => {
	if (finished) return;
	finished = true;
	const all = Buffer.concat(chunks);
	writeFileSync(outputFile, all);
	process.stdout.write(`done ${all.length}\n`);
	socket.destroy();
	process.exit(0);
};

process.stdin.on("data", (d) => {
	if (!d.toString().includes("read")) return;
	let quiet: ReturnType<typeof setTimeout> = setTimeout(finish, 3000);
	socket.on("data", (c: Buffer) => {
		chunks.push(c);
		clearTimeout(quiet);
		quiet = setTimeout(finish, 3000);
	});
	socket.on("close", finish);
	socket.resume();
});
