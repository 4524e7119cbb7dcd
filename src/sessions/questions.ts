import { isObject, type Json, str } from "../engine/events";

/** One question of an engine `question.asked`, as the stream shows it. */
export interface Question {
	readonly question: string;
	readonly header?: string;
	readonly options: { readonly label: string; readonly description?: string }[];
	readonly multiple: boolean;
}

/** Reads the questions of a `question.asked` event (tolerant of missing fields). Pure. */
export function parseQuestions(properties: Json): Question[] {
	const list = Array.isArray(properties.questions) ? properties.questions : [];
	return list.filter(isObject).map((q) => {
		const options = (Array.isArray(q.options) ? q.options : []).filter(isObject).map((o) => {
			const description = str(o.description);
			return {
				label: str(o.label) ?? "",
				...(description ? { description } : {}),
			};
		});
		const header = str(q.header);
		return {
			question: str(q.question) ?? "",
			...(header ? { header } : {}),
			options,
			multiple: q.multiple === true,
		};
	});
}

/** The answer given when nobody answers: per question, the option marked recommended, else the first. */
export function defaultAnswers(questions: readonly Question[]): string[][] {
	return questions.map((q) => {
		const recommended = q.options.find((o) => /recommended/i.test(`${o.label} ${o.description ?? ""}`));
		const choice = recommended ?? q.options[0];
		return choice ? [choice.label] : [];
	});
}

/** Why `answers` does not fit `questions`, or undefined when it does. */
export function answersProblem(
	questions: readonly Question[],
	answers: readonly (readonly string[])[],
): string | undefined {
	if (answers.length !== questions.length) return `must hold one list of labels per question (${questions.length})`;
	for (const [i, q] of questions.entries()) {
		const a = answers[i] ?? [];
		if (a.length === 0) return `answer ${i + 1} is empty`;
		if (!q.multiple && a.length > 1) return `question ${i + 1} takes one answer`;
	}
	return undefined;
}
