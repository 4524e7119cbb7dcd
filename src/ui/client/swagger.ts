/**
 * Starts Swagger UI (from swagger-ui-dist, served by the sidecar: no CDN) on
 * /swagger/json. "Authorize" with the bearer scheme adds the token to every
 * "Try it out" call, and a token the inspector already holds in this tab is
 * used from the start.
 */
import { getToken } from "./api";

interface SwaggerRequest {
	url: string;
	headers: Record<string, string>;
}
interface SwaggerUi {
	preauthorizeApiKey(name: string, value: string): void;
	authSelectors: { authorized(): { toJS(): Record<string, { value?: string }> } };
}
declare const SwaggerUIBundle: (options: Record<string, unknown>) => SwaggerUi;

// Assigned after construction: the interceptor also sees the document's own request, made before that.
let ui: SwaggerUi | undefined;
ui = SwaggerUIBundle({
	url: "/swagger/json",
	dom_id: "#swagger-ui",
	deepLinking: true,
	// Swagger UI only applies a scheme to operations that declare it; the document declares the scheme once
	// (components.securitySchemes.bearer), so the authorized token is added here to every same-origin call.
	requestInterceptor: (req: SwaggerRequest) => {
		const token = ui?.authSelectors.authorized().toJS().bearer?.value;
		const sameOrigin = new URL(req.url, location.href).origin === location.origin;
		if (token && sameOrigin && !req.headers.Authorization && !req.headers.authorization)
			req.headers.Authorization = `Bearer ${token}`;
		return req;
	},
	onComplete: () => {
		const token = getToken();
		if (token) ui?.preauthorizeApiKey("bearer", token);
	},
});
