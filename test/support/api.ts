import type { CreateSessionBody } from "../../src/sessions/schemas";

/** A valid POST /sessions body; override any part. */
export function sessionBody(
	overrides: Partial<Omit<CreateSessionBody, "model_config">> & {
		model_config?: Partial<CreateSessionBody["model_config"]>;
	} = {},
): CreateSessionBody {
	const { model_config, ...rest } = overrides;
	return {
		session_id: crypto.randomUUID(),
		prompt: "Create the file the task asks for.",
		...rest,
		model_config: {
			provider: "openai-compatible",
			model: "qwen2.5-coder",
			api_key: `sk-test-${crypto.randomUUID()}`,
			temperature: 0.2,
			max_tokens: 2048,
			enabled_tools: ["read", "write", "edit", "bash"],
			...model_config,
		} as CreateSessionBody["model_config"],
	};
}

export async function postSession(
	base: string,
	body: unknown,
	headers: Record<string, string> = {},
): Promise<Response> {
	return fetch(`${base}/sessions`, {
		method: "POST",
		headers: { "content-type": "application/json", ...headers },
		body: typeof body === "string" ? body : JSON.stringify(body),
	});
}
