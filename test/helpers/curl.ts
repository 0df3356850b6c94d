// Run the real curl binary and collect what a user would see: exit code, stdout bytes, stderr text.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';

export interface CurlResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function curl(args: string[], stdin?: Buffer | string): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['--silent', '--show-error', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(stdin);
  });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
