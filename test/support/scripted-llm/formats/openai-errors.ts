/** OpenAI's error body (`{error:{message,type,param,code}}`), shared by Chat Completions and Responses. */
export function openAiError(status: number, message: string | undefined): unknown {
	const [type, code, fallback] = OPENAI_ERRORS[status] ?? [
		"server_error",
		null,
		"The server had an error while processing your request.",
	];
	return { error: { message: message ?? fallback, type, param: null, code } };
}

const OPENAI_ERRORS: Record<number, [type: string, code: string | null, message: string]> = {
	400: ["invalid_request_error", null, "Invalid request."],
	401: ["invalid_request_error", "invalid_api_key", "Incorrect API key provided."],
	403: [
		"invalid_request_error",
		"unsupported_country_region_territory",
		"Country, region, or territory not supported.",
	],
	404: ["invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."],
	429: ["requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."],
	500: ["server_error", null, "The server had an error while processing your request."],
	503: ["server_error", null, "The engine is currently overloaded, please try again later."],
};
