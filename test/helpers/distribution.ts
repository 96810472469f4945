// Starts the CNCF distribution registry (Debian's docker-registry 2.8) on 127.0.0.1:0 with a
// config in a temp dir, reads the real port from its "listening on" line, and stops it by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { TokenServer } from './token-server.js';
import { makeSelfSignedCert } from './tls.js';
import { tempDir } from './temp-dir.js';

const PROGRAM = '/usr/bin/docker-registry';

export interface DistributionOptions {
  readonly tls?: boolean;
  /** With tls: CA certificate files (PEM) that client certificates must chain to (mutual TLS). */
  readonly clientCas?: readonly string[];
  readonly auth?: { readonly username: string; readonly password: string } | { readonly token: TokenServer };
}

export interface DistributionHandle {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  /** `http://127.0.0.1:PORT` or `https://…` */
  readonly url: string;
  /** The self-signed certificate (PEM) when started with TLS. */
  readonly caFile?: string;
  readonly username?: string;
  readonly password?: string;
  /** Where the registry keeps its blobs (tests may look, never write). */
  readonly rootDirectory: string;
  readonly pid: number;
  stop(): Promise<void>;
}

function yamlString(value: string): string {
  return JSON.stringify(value); // JSON strings are valid YAML scalars
}

export async function startDistribution(options: DistributionOptions = {}): Promise<DistributionHandle> {
  if (!existsSync(PROGRAM)) throw new Error('docker-registry not found: install the Debian package docker-registry');
  const dir = await tempDir('polyarch-distribution-');
  try {
    const root = join(dir.path, 'data');
    const lines = [
      'version: 0.1',
      'log:',
      '  level: info', // "listening on" is an info line
      '  formatter: text',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${yamlString(root)}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      '  addr: 127.0.0.1:0',
      `  secret: ${yamlString(`polyarch-test-${process.pid}-${Date.now()}`)}`,
    ];
    let caFile: string | undefined;
    if (options.tls) {
      const cert = await makeSelfSignedCert(dir.path, { hosts: ['127.0.0.1', 'localhost'] });
      caFile = cert.certFile;
      lines.push('  tls:', `    certificate: ${yamlString(cert.certFile)}`, `    key: ${yamlString(cert.keyFile)}`);
      if (options.clientCas && options.clientCas.length > 0) lines.push('    clientcas:', ...options.clientCas.map((file) => `      - ${yamlString(file)}`));
    }
    let username: string | undefined;
    let password: string | undefined;
    if (options.auth && 'token' in options.auth) {
      const token = options.auth.token;
      lines.push(
        'auth:',
        '  token:',
        `    realm: ${yamlString(token.realm)}`,
        `    service: ${yamlString(token.service)}`,
        `    issuer: ${yamlString(token.issuer)}`,
        `    rootcertbundle: ${yamlString(token.certFile)}`,
      );
    } else if (options.auth) {
      ({ username, password } = options.auth);
      const htpasswd = join(dir.path, 'htpasswd');
      await writeFile(htpasswd, `${username}:${bcrypt.hashSync(password, 5)}\n`);
      lines.push('auth:', '  htpasswd:', '    realm: polyarch-test', `    path: ${yamlString(htpasswd)}`);
    }
    const config = join(dir.path, 'config.yml');
    await writeFile(config, `${lines.join('\n')}\n`);

    const child = spawn(PROGRAM, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const port = await waitForPort(child, Boolean(options.tls));
    const host = `127.0.0.1:${port}`;
    let stopped = false;
    return {
      host,
      url: `${options.tls ? 'https' : 'http'}://${host}`,
      ...(caFile !== undefined ? { caFile } : {}),
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      rootDirectory: root,
      pid: child.pid as number,
      async stop() {
        if (stopped) return;
        stopped = true;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        await dir.remove();
      },
    };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

/** Reads stderr until the listening line; keeps draining it afterwards so the registry never blocks. */
function waitForPort(child: ChildProcess, tls: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const recent: string[] = [];
    let buffer = '';
    let found = false;
    const timer = setTimeout(() => fail(new Error('docker-registry did not start within 15 s')), 15_000);
    const fail = (error: Error): void => {
      if (found) return;
      found = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n${recent.join('\n')}`));
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      if (found) return; // drained and dropped
      buffer += text;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        recent.push(line);
        if (recent.length > 20) recent.shift();
        const match = /listening on 127\.0\.0\.1:(\d+)(, tls)?/.exec(line);
        if (match) {
          if (Boolean(match[2]) !== tls) {
            fail(new Error(`docker-registry listens ${match[2] ? 'with' : 'without'} TLS, expected the opposite`));
            return;
          }
          found = true;
          clearTimeout(timer);
          resolve(Number(match[1]));
          return;
        }
      }
    });
    child.once('error', (error) => fail(error));
    child.once('exit', (code, signal) => fail(new Error(`docker-registry exited early (${signal ?? `code ${code}`})`)));
  });
}
