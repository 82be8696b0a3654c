import type { ErrorItem } from './errors.js';

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

/** A message of the envelope (`GET /user/tokens/verify` sends one). */
export interface Message {
  code: number;
  message: string;
  type?: null;
}

export function success<T>(result: T, extra: { result_info?: ResultInfo; messages?: Message[] } = {}) {
  return {
    success: true as const,
    errors: [] as Message[],
    messages: extra.messages ?? [],
    result,
    ...(extra.result_info ? { result_info: extra.result_info } : {}),
  };
}

/**
 * Deletes whose SDK method does not unwrap the envelope (custom hostname, pack certificate):
 * the SDK reads a top-level `id`, envelope-aware clients read `result`.
 */
export function deleted(id: string) {
  return { id, ...success({ id }) };
}

export function failure(errors: ErrorItem[]) {
  return { success: false as const, errors, messages: [], result: null };
}
