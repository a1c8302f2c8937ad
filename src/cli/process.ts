import type { Command } from 'commander';

export function register(_program: Command): void {
  // 'process' command: not wired yet.
}
