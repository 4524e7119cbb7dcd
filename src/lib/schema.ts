import { type SchemaOptions, type TLiteral, type TUnion, Type } from "@sinclair/typebox";

type Literals<T extends readonly string[]> = {
	-readonly [K in keyof T]: TLiteral<T[K]>;
};

/** A union of string literals that keeps its static type (`"a" | "b"`), for enums declared as const arrays. */
export function literalUnion<const T extends readonly string[]>(
	values: T,
	options?: SchemaOptions,
): TUnion<Literals<T>> {
	return Type.Union(
		values.map((v) => Type.Literal(v)),
		options,
	) as unknown as TUnion<Literals<T>>;
}

/** A TypeBox schema as plain JSON Schema (its symbol keys dropped), for documents. */
export function plainSchema(schema: unknown): Record<string, unknown> {
	return JSON.parse(JSON.stringify(schema));
}
