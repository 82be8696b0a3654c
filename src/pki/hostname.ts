import { isIP } from 'node:net';

const MAX_NAME = 253;

/**
 * DNS name rules shared by zones, custom hostnames, origins and association hostnames.
 * Returns null when valid, else the reason (used in the error message).
 */
export function domainNameProblem(name: string, opts: { allowWildcard?: boolean } = {}): string | null {
  if (name.length === 0) return 'it is empty';
  // 253 characters is the most a DNS name can have in text form (255 octets on the wire).
  if (name.length > MAX_NAME) return `it is longer than ${MAX_NAME} characters`;
  if (isIP(name) !== 0 || /^\[.*\]$/.test(name)) return 'IP addresses are not allowed';
  const labels = name.split('.');
  if (labels.length < 2) return 'it needs at least two labels (like example.com)';
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label === '*' && i === 0 && opts.allowWildcard) continue;
    if (label.length === 0) return 'it has an empty label';
    if (label.length > 63) return `the label "${label.slice(0, 20)}…" is longer than 63 characters`;
    if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i.test(label)) return `the label "${label}" has characters other than letters, digits and hyphens, or starts or ends with a hyphen`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'the top-level label is numeric';
  return null;
}

export const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

/** Lowercase and drop one trailing dot: the form we store and compare. */
export const normaliseHostname = (name: string): string => name.trim().toLowerCase().replace(/\.$/, '');

/** Does a certificate name (possibly `*.example.com`) cover `hostname`? A wildcard covers exactly one label. */
export function nameCovers(certName: string, hostname: string): boolean {
  const pattern = certName.toLowerCase();
  const host = hostname.toLowerCase();
  if (pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1); // ".example.com"
  if (host.startsWith('*.')) return false; // a wildcard hostname needs the exact wildcard name
  if (!host.endsWith(suffix)) return false;
  const first = host.slice(0, host.length - suffix.length);
  return first.length > 0 && !first.includes('.');
}
