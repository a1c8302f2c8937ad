import type { Command } from 'commander';

export function register(_program: Command): void {
  // 'gateway' command: not wired yet.
}
