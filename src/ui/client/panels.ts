import { NeedsToken } from "./api";
import { clear, h } from "./dom";
import { diffLines, shortTime } from "./format";

export interface FileChange {
	path: string;
	status: string;
	additions: number;
	deletions: number;
	diff: string;
}

export interface Message {
	id: string;
	role: string;
	created_at: string | null;
	text: string;
	tool_calls: { call_id: string; tool: string; status: string }[];
}

/**
 * A folded panel whose content is loaded when it is opened (and on `refresh()`
 * while open). A 401 goes to `onAuth`; another error is shown in the panel.
 */
export function lazyPanel(
	title: string,
	id: string,
	load: () => Promise<Node[]>,
	onAuth: (error: NeedsToken) => void,
): { box: HTMLDetailsElement; refresh(): void } {
	const body = h("div", { id });
	const fill = async () => {
		try {
			clear(body, ...(await load()));
		} catch (error) {
			if (error instanceof NeedsToken) onAuth(error);
			else clear(body, h("p", { class: "error" }, error instanceof Error ? error.message : String(error)));
		}
	};
	const box = h(
		"details",
		{ class: "panel", id: `${id}-panel`, ontoggle: () => box.open && void fill() },
		h("summary", {}, title),
		body,
	);
	return { box, refresh: () => box.open && void fill() };
}

/** One file of the session's diff, additions and deletions coloured. */
export function renderFile(f: FileChange): HTMLElement {
	return h(
		"div",
		{ class: "file", "data-path": f.path },
		h(
			"div",
			{ class: "file-head" },
			h("code", {}, f.path),
			` ${f.status} `,
			h("span", { class: "add" }, `+${f.additions}`),
			" ",
			h("span", { class: "del" }, `-${f.deletions}`),
		),
		h("pre", { class: "diff" }, ...diffLines(f.diff).map((l) => h("span", { class: `dl ${l.kind}` }, l.text))),
	);
}

/** One message of the conversation. */
export function renderMessage(m: Message): HTMLElement {
	return h(
		"div",
		{ class: `msg ${m.role}` },
		h("div", { class: "muted" }, `${m.role} · ${shortTime(m.created_at)}`),
		h("div", { class: "text" }, m.text),
		m.tool_calls.length
			? h("div", { class: "muted" }, `tools: ${m.tool_calls.map((c) => `${c.tool} (${c.status})`).join(", ")}`)
			: null,
	);
}
