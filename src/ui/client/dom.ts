type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

/**
 * Creates an element. Text always goes in as text nodes, never as HTML: every
 * string the page shows comes from the agent or the API and may hold markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
	tag: K,
	attrs: Attrs = {},
	...children: Child[]
): HTMLElementTagNameMap[K] {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === undefined || v === false) continue;
		if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
		else if (k === "class") el.className = String(v);
		else el.setAttribute(k, v === true ? "" : String(v));
	}
	for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
	return el;
}

export function clear(el: Element, ...children: Child[]): void {
	el.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}
