/**
 * The inspector page (/ui, /ui/sessions/{id}): plain DOM, no framework, bundled
 * by src/ui/bundle.ts. Every API call carries the tab's token (sessionStorage).
 */
import { NeedsToken, setToken } from "./api";
import { clear, h } from "./dom";
import { route } from "./format";
import { renderList } from "./list";
import { renderSession } from "./session";

const main = document.getElementById("main") as HTMLElement;
let stop: (() => void) | undefined;

function start(): void {
	stop?.();
	const r = route(location.pathname);
	if (r.view === "list") stop = renderList(main, fail);
	else if (r.view === "session") stop = renderSession(main, r.id, fail);
	else clear(main, h("p", { class: "error" }, "404: no such page"), h("a", { href: "/ui" }, "← sessions"));
}

/** A 401 replaces the view with the token form; anything else is shown where it happened. */
function fail(error: unknown): void {
	if (!(error instanceof NeedsToken)) {
		clear(main, h("p", { class: "error" }, error instanceof Error ? error.message : String(error)));
		return;
	}
	stop?.();
	stop = undefined;
	const input = h("input", {
		type: "password",
		id: "token",
		autocomplete: "off",
		placeholder: "OPENCODE_SHARED_SECRET",
		required: true,
	});
	clear(
		main,
		h(
			"form",
			{
				class: "token",
				id: "token-form",
				onsubmit: (e: Event) => {
					e.preventDefault();
					setToken(input.value);
					input.value = "";
					start();
				},
			},
			h("h2", { class: "error", id: "auth-needed" }, error.message),
			h(
				"p",
				{},
				"This sidecar requires its shared secret (OPENCODE_SHARED_SECRET) as a bearer token. It is kept in this tab only (sessionStorage).",
			),
			input,
			h("button", { type: "submit", class: "primary" }, "Use token"),
		),
	);
	if (error.hadToken) setToken(null);
	input.focus();
}

start();
