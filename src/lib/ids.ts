import { randomBytes, randomUUID } from 'node:crypto';

/** Id generation is injected (tests may want predictable ids). */
export interface Ids {
  /** 32 lowercase hex: accounts, zones, tokens. */
  tag(): string;
  /** UUID v4: custom hostnames, packs, pack certificates, mTLS certificates. */
  uuid(): string;
}

export const randomIds: Ids = {
  tag: () => randomBytes(16).toString('hex'),
  uuid: () => randomUUID(),
};

export const TAG_PATTERN = '^[0-9a-f]{32}$';
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const isTag = (s: string): boolean => /^[0-9a-f]{32}$/.test(s);
export const isUuid = (s: string): boolean => new RegExp(UUID_PATTERN).test(s);
