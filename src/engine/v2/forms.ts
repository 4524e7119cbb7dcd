import { isObject, type Json, str } from "../events";

/**
 * Questions on 2.x are forms: the agent's `question` tool opens a form whose fields are the
 * questions (a `multiselect`, or a `string` with options). The sessions read 1.x's
 * `question.asked` shape (sessions/questions.ts) and answer with one list of option labels
 * per question; these map both ways. Per generation; pure.
 */

/** The visible fields of a form, in order: each is one question. */
const fieldsOf = (form: Json): Json[] =>
	(Array.isArray(form.fields) ? form.fields : []).filter(isObject).filter((f) => f.hidden !== true);

const optionsOf = (field: Json): Json[] => (Array.isArray(field.options) ? field.options : []).filter(isObject);

/** A form's fields as 1.x questions (`question`, `header`, `options` of labels, `multiple`). */
export function questionsOfForm(form: Json): Json[] {
	return fieldsOf(form).map((field) => {
		const title = str(field.title);
		const description = str(field.description);
		return {
			question: description ?? title ?? str(form.title) ?? "",
			...(title && description ? { header: title } : {}),
			options: optionsOf(field).map((o) => ({
				label: str(o.label) ?? str(o.value) ?? "",
				...(str(o.description) ? { description: str(o.description) } : {}),
			})),
			multiple: str(field.type) === "multiselect" && (typeof field.maxItems !== "number" || field.maxItems > 1),
		};
	});
}

/** The sessions' answer (labels per question) as the form's answer: each field's option value(s). */
export function formAnswer(form: Json, answers: readonly (readonly string[])[]): Record<string, string | string[]> {
	const answer: Record<string, string | string[]> = {};
	for (const [i, field] of fieldsOf(form).entries()) {
		const key = str(field.key);
		if (!key) continue;
		const options = optionsOf(field);
		const values = (answers[i] ?? []).map((label) => {
			const option = options.find((o) => str(o.label) === label || str(o.value) === label);
			return (option ? str(option.value) : undefined) ?? label;
		});
		answer[key] = str(field.type) === "multiselect" ? values : (values[0] ?? "");
	}
	return answer;
}
