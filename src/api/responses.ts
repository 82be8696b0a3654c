import { Type, type TSchema } from '@sinclair/typebox';

/**
 * Response contracts (design §3): every route declares what it answers, Fastify serialises with
 * fast-json-stringify from these schemas and sends no field outside them. The envelope is
 * Cloudflare's v4 one.
 */
const ResultInfo = Type.Object({
  page: Type.Integer(),
  per_page: Type.Integer(),
  count: Type.Integer(),
  total_count: Type.Integer(),
  total_pages: Type.Integer(),
});
const Message = Type.Object({ code: Type.Integer(), message: Type.String(), type: Type.Optional(Type.Null()) });

export const Envelope = <T extends TSchema>(result: T) =>
  Type.Object({
    success: Type.Boolean(),
    // Always empty on success; errors go through the error renderer, not these schemas.
    errors: Type.Array(Message, { maxItems: 0 }),
    messages: Type.Array(Message),
    result,
    result_info: Type.Optional(ResultInfo),
  });

/** Deletes whose SDK method does not unwrap the envelope: a top-level `id` as well (envelope.ts `deleted`). */
export const DeletedEnvelope = Type.Composite([Type.Object({ id: Type.String() }), Envelope(Type.Object({ id: Type.String() }))]);

/**
 * A string from a fixed set. Not a union of literals: fast-json-stringify serialises `anyOf` by
 * validating each branch with Ajv at run time, `enum` as a plain string.
 */
export const StringEnum = <T extends string>(...values: T[]) => Type.Unsafe<T>({ type: 'string', enum: values });

/** A string, or null (one JSON type list, for the same reason as StringEnum). */
export const NullableString = () => Type.Unsafe<string | null>({ type: ['string', 'null'] });
/** A list of strings, or null. */
export const NullableStrings = () => Type.Unsafe<string[] | null>({ type: ['array', 'null'], items: { type: 'string' } });
