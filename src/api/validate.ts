import { Type } from '@sinclair/typebox';
import type { ErrorObject, Options } from 'ajv';
import { Errors, type ApiError } from './errors.js';
import { TAG_PATTERN, UUID_PATTERN } from '../lib/ids.js';

/** Shared schema pieces. A path id of the wrong shape fails `params` validation → 400/7003. */
export const TagParam = Type.String({ pattern: TAG_PATTERN });
export const UuidParam = Type.String({ pattern: UUID_PATTERN });

/**
 * `page` is bounded so that (page - 1) × per_page stays an exact integer SQL accepts as an OFFSET;
 * `per_page` is clamped to 5–50 after it is read (pagination.ts).
 */
export const MAX_PAGE = 1_000_000_000;

export const PageQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE })),
  per_page: Type.Optional(Type.Integer()),
});

export const Direction = Type.Union([Type.Literal('asc'), Type.Literal('desc')]);

/**
 * How request schemas are checked (Fastify's Ajv, and `edgecert import`'s own, which must answer
 * exactly as the API does). Fastify adds its defaults (coercion, defaults) under these.
 */
export const AJV_OPTIONS: Options = { coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false };

/** A schema refusal of a request part (`body`, `querystring`), as the API answers it: 400/1800 naming the field. */
export function schemaError(context: string, errors: ErrorObject[] | null | undefined): ApiError {
  const first = errors?.[0];
  const where = `${context}${first?.instancePath ? first.instancePath.replace(/\//g, '.') : ''}`;
  const extra = first?.params && 'allowedValues' in first.params ? ` (${(first.params.allowedValues as unknown[]).join(', ')})` : '';
  return Errors.invalidField(`${where} ${first?.message ?? 'is invalid'}${extra}`);
}
