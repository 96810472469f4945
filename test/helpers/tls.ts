// Self-signed certificates for test servers, made with the openssl CLI (SAN holds IPs too).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface SelfSignedCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export async function makeSelfSignedCert(
  dir: string,
  options: { hosts?: readonly string[]; keyType?: 'ec' | 'rsa'; name?: string; commonName?: string } = {},
): Promise<SelfSignedCert> {
  const hosts = options.hosts ?? ['127.0.0.1', 'localhost'];
  const name = options.name ?? 'server';
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const key = options.keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  try {
    await exec('openssl', [
      'req', '-x509', ...key, '-nodes', '-sha256', '-days', '2',
      '-keyout', keyFile, '-out', certFile,
      '-subj', `/CN=${options.commonName ?? hosts[0] ?? 'polyarch-test'}`,
      ...(san ? ['-addext', `subjectAltName=${san}`] : []),
    ]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('openssl not found: install the Debian package openssl');
    throw error;
  }
  return { certFile, keyFile, certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
}
