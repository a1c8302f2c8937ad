import type { Command } from 'commander';

export function register(_program: Command): void {
  // 'review' command: not wired yet.
}
