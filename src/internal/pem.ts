// What is wrong with a PEM file's text as a certificate list or a private key, found when the file
// is named rather than at the first TLS handshake: a CA file that holds no certificate was taken
// silently, and the handshake then blamed the registry ("self-signed certificate").
import { X509Certificate, createPrivateKey } from 'node:crypto';

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Why `text` is not what `kind` needs (one or more PEM certificates, or one PEM private key); undefined when it is. */
export function pemProblem(text: string, kind: 'certificate' | 'key'): string | undefined {
  if (kind === 'key') {
    try {
      createPrivateKey(text);
      return undefined;
    } catch {
      return 'not a PEM private key';
    }
  }
  const blocks = text.match(CERTIFICATE) ?? [];
  if (blocks.length === 0) return 'no PEM certificate in it';
  for (const [at, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `certificate ${at + 1} in it cannot be read`;
    }
  }
  return undefined;
}
