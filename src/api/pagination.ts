import type { ResultInfo } from './envelope.js';

export interface PageRequest {
  page: number;
  perPage: number;
}

/** per_page defaults to 20 and is clamped to 5–50; page starts at 1 (design §1.2). */
export function pageRequest(query: { page?: number; per_page?: number }, defaults = { perPage: 20, min: 5, max: 50 }): PageRequest {
  const page = Math.max(1, Math.floor(query.page ?? 1));
  const perPage = Math.min(defaults.max, Math.max(defaults.min, Math.floor(query.per_page ?? defaults.perPage)));
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
