import { resolve } from "node:path";
import { parseConfig } from "../../src/config/parse";
import { systemClock } from "../../src/lib/clock";
import { createLogger } from "../../src/lib/log";
import { createSidecar, type Sidecar, type SidecarOptions } from "../../src/sidecar";
import { checkResponse } from "./conformance";

/** A sidecar built in this process (real engine and gateway), driven through `app.handle`. */
export interface InProcess {
	readonly sidecar: Sidecar;
	readonly logLines: string[];
	handle(path: string, init?: RequestInit): Promise<Response>;
}

export async function startInProcess(env: Record<string, string>, options: SidecarOptions = {}): Promise<InProcess> {
	const config = parseConfig(
		{ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "debug", ...env },
		resolve(import.meta.dir, "../.."),
	);
	const logLines: string[] = [];
	const log = createLogger(config.logLevel, {
		write: (line: string) => void logLines.push(line),
	});
	const sidecar = createSidecar(config, systemClock, log, options);
	await sidecar.engine.whenReady();
	return {
		sidecar,
		logLines,
		handle: async (path, init) => {
			const res = await sidecar.app.handle(new Request(`http://localhost${path}`, init));
			await checkResponse(init?.method ?? "GET", path, res);
			return res;
		},
	};
}
