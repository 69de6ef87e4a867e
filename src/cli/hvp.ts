import type { Command } from 'commander';

// PLACEHOLDER: being written in this session (issue 5); registers nothing until then.
export function registerHvp(_program: Command): void {}
