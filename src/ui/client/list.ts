import type { SessionStatus } from "../../sessions/schemas";
import { api } from "./api";
import { clear, h } from "./dom";
import { shortTime } from "./format";

const STATUSES = ["pending", "running", "completed", "failed", "cancelled", "timeout"];
/** The API has no stream of the session list, so the page polls it (cheap: status objects from memory). */
const REFRESH_MS = 1000;

export function progressBar(progress: number | undefined): HTMLElement {
	if (progress === undefined) return h("span", { class: "muted" }, "–");
	return h(
		"span",
		{ class: "progress" },
		h("progress", { max: 100, value: progress }),
		h("span", { class: "pct" }, `${progress}%`),
	);
}

export function statusBadge(status: string): HTMLElement {
	return h("span", { class: `badge st-${status}` }, status);
}

/** The session list: newest first, filter by status, refreshed without a reload. */
export function renderList(main: HTMLElement, onError: (e: unknown) => void): () => void {
	const params = new URLSearchParams(location.search);
	let filter = params.get("status") ?? "";
	const select = h(
		"select",
		{
			id: "status-filter",
			"aria-label": "Filter by status",
			onchange: () => {
				filter = select.value;
				const url = new URL(location.href);
				if (filter) url.searchParams.set("status", filter);
				else url.searchParams.delete("status");
				history.replaceState(null, "", url);
				void refresh();
			},
		},
		h("option", { value: "" }, "all statuses"),
		...STATUSES.map((s) => h("option", { value: s, selected: s === filter }, s)),
	);
	const body = h("tbody");
	const count = h("span", { class: "muted" });
	clear(
		main,
		h("div", { class: "toolbar" }, h("h2", {}, "Sessions"), select, count),
		h(
			"table",
			{ class: "sessions", id: "sessions" },
			h(
				"thead",
				{},
				h(
					"tr",
					{},
					...["session", "status", "provider / model", "created", "ended", "progress"].map((t) => h("th", {}, t)),
				),
			),
			body,
		),
	);
	let timer: ReturnType<typeof setTimeout> | undefined;
	let stopped = false;
	const refresh = async () => {
		clearTimeout(timer);
		try {
			const q = filter ? `?status=${encodeURIComponent(filter)}` : "";
			const { sessions } = await api<{ sessions: SessionStatus[] }>(`/sessions${q}`);
			clear(
				body,
				...sessions.map((s) =>
					h(
						"tr",
						{ "data-session": s.session_id },
						h("td", {}, h("a", { href: `/ui/sessions/${s.session_id}` }, h("code", {}, s.session_id))),
						h("td", {}, statusBadge(s.status), s.error ? h("span", { class: "muted" }, ` ${s.error.code}`) : ""),
						h("td", {}, `${s.provider} / ${s.model}`),
						h("td", {}, shortTime(s.created_at)),
						h("td", {}, shortTime(s.ended_at)),
						h("td", {}, progressBar(s.progress)),
					),
				),
			);
			if (sessions.length === 0) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "no sessions yet")));
			count.textContent = `${sessions.length} session${sessions.length === 1 ? "" : "s"}`;
		} catch (error) {
			onError(error);
			return;
		}
		if (!stopped) timer = setTimeout(refresh, document.hidden ? REFRESH_MS * 5 : REFRESH_MS);
	};
	void refresh();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
