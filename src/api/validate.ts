import { Type } from '@sinclair/typebox';
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
