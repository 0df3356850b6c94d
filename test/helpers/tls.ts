// Self-signed certificates made by the test with the real openssl binary, in a temp folder.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  dir: string;
  keyPath: string;
  crtPath: string;
  cert(): Buffer;
  /** Replace the files with a new certificate for `commonName`. */
  renew(commonName: string): void;
  remove(): void;
}

export function makeCert(commonName: string): CertFiles {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
  const keyPath = join(dir, 'key.pem');
  const crtPath = join(dir, 'crt.pem');
  const renew = (cn: string) => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${cn}`,
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        keyPath,
        '-out',
        crtPath,
      ],
      { stdio: 'ignore' },
    );
  };
  renew(commonName);
  return {
    dir,
    keyPath,
    crtPath,
    cert: () => readFileSync(crtPath),
    renew,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
