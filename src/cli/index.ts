#!/usr/bin/env node
// The `ferry` command: one subcommand per file.
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { registerConnect } from './connect.ts';
import { ExitCode, fail } from './exit.ts';
import { registerListen } from './listen.ts';
import { registerReceive } from './receive.ts';
import { registerSend } from './send.ts';
import { registerServe } from './serve.ts';

const program = new Command('ferry')
  .version(VERSION)
  .description('Move data between any devices: HTTP pipes, WebRTC peers, code-phrase transfers.')
  // Usage errors follow every other error's shape: `ferry: error [code]: message`, exit code 2.
  .configureOutput({ outputError: () => {} })
  .exitOverride((err) => {
    if (err.exitCode === 0) process.exit(0);
    const code = err.code.replace(/^commander\./, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    fail(ExitCode.Usage, code, `${err.message.replace(/^error: /, '')} (see 'ferry --help')`);
  });
registerServe(program);
registerListen(program);
registerConnect(program);
registerSend(program);
registerReceive(program);
await program.parseAsync();
