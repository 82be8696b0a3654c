import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { splitPemBlocks } from './pem.js';

/**
 * Roots trusted for custom certificates: Node's bundled Mozilla roots plus the PEM bundle in
 * EDGECERT_TRUST_CA_FILE. Indexed by subject so chain building is a map lookup.
 */
export class TrustStore {
  private readonly bySubject = new Map<string, X509Certificate[]>();
  readonly size: number;

  constructor(pems: readonly string[]) {
    let n = 0;
    for (const pem of pems) {
      const cert = new X509Certificate(pem);
      const list = this.bySubject.get(cert.subject) ?? [];
      list.push(cert);
      this.bySubject.set(cert.subject, list);
      n++;
    }
    this.size = n;
  }

  static load(extraCaFile: string | undefined): TrustStore {
    // The operator's own bundle: as many certificates as it holds.
    const extra = extraCaFile ? splitPemBlocks(readFileSync(extraCaFile, 'utf8'), Infinity).filter((b) => b.type === 'CERTIFICATE').map((b) => b.pem) : [];
    if (extraCaFile && extra.length === 0) throw new Error(`${extraCaFile} holds no PEM certificate`);
    return new TrustStore([...rootCertificates, ...extra]);
  }

  /** Answers for certificates seen before (cached intermediates are the same objects). */
  private readonly issuerMemo = new WeakMap<X509Certificate, X509Certificate | null>();

  /** A trusted root that issued and signed `cert`, if any. */
  issuerOf(cert: X509Certificate): X509Certificate | undefined {
    const memo = this.issuerMemo.get(cert);
    if (memo !== undefined) return memo ?? undefined;
    const root = this.bySubject.get(cert.issuer)?.find((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
    this.issuerMemo.set(cert, root ?? null);
    return root;
  }

  /** Is `cert` itself one of the trusted roots? */
  contains(cert: X509Certificate): boolean {
    return (this.bySubject.get(cert.subject) ?? []).some((root) => root.fingerprint256 === cert.fingerprint256);
  }
}
