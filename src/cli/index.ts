#!/usr/bin/env node
// The `ferry` command: one subcommand per file.
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { registerConnect } from './connect.ts';
import { registerListen } from './listen.ts';
import { registerServe } from './serve.ts';

const program = new Command('ferry')
  .version(VERSION)
  .description('Move data between any devices: HTTP pipes, WebRTC peers, code-phrase transfers.')
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
registerServe(program);
registerListen(program);
registerConnect(program);
await program.parseAsync();
