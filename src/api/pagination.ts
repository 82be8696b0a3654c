import type { ResultInfo } from './envelope.js';
import { Errors } from './errors.js';
import { MAX_PAGE } from './validate.js';

export interface PageRequest {
  page: number;
  perPage: number;
}

/** per_page defaults to 20 and is clamped to 5–50; page starts at 1 (design §1.2). */
export function pageRequest(query: { page?: number; per_page?: number }, defaults = { perPage: 20, min: 5, max: 50 }): PageRequest {
  // The schema bounds page, but Ajv's coercion lets "Infinity" through as a number.
  if (query.page !== undefined && !(Number.isInteger(query.page) && query.page >= 1 && query.page <= MAX_PAGE)) {
    throw Errors.invalidField(`querystring.page must be a whole number from 1 to ${MAX_PAGE}`);
  }
  const page = query.page ?? 1;
  const requested = query.per_page ?? defaults.perPage;
  const perPage = Number.isNaN(requested) ? defaults.perPage : Math.min(defaults.max, Math.max(defaults.min, Math.floor(requested)));
  return { page, perPage };
}

export function resultInfo(req: PageRequest, count: number, totalCount: number): ResultInfo {
  return {
    page: req.page,
    per_page: req.perPage,
    count,
    total_count: totalCount,
    total_pages: Math.ceil(totalCount / req.perPage),
  };
}

export const offsetOf = (req: PageRequest): number => (req.page - 1) * req.perPage;
