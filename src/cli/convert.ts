import type { Command } from 'commander';

export function register(_program: Command): void {
  // 'convert' command: not wired yet.
}
