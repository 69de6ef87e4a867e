import type { Command } from 'commander';

// PLACEHOLDER: being written in this session (issue 4); registers nothing until then.
export function registerCoresetStability(_coreset: Command): void {}
