import type { Command } from 'commander';

export function register(_program: Command): void {
  // 'roster' command: not wired yet.
}
