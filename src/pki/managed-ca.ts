import 'reflect-metadata';
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/**
 * A zone's managed client-certificate CA: ECDSA P-256, self-signed, 10 years, path length 0 (it
 * signs client certificates only). Created the first time the zone associates hostnames with it.
 */
export async function createManagedCa(zoneName: string, now: Date): Promise<{ certificatePem: string; keyPem: string; expiresOn: Date }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notAfter = new Date(now.getTime() + 3650 * 86_400_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // 16 random bytes, top bit clear: a positive serial, unique in practice.
    serialNumber: (randomBytes(16)[0]! & 0x7f).toString(16).padStart(2, '0') + randomBytes(15).toString('hex'),
    name: `CN=edgecert Managed CA for ${zoneName}, O=edgecert`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey as unknown as webcrypto.CryptoKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { certificatePem: cert.toString('pem') + '\n', keyPem, expiresOn: notAfter };
}
