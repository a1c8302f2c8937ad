import type { Command } from 'commander';

export function register(_program: Command): void {
  // 'deliveries' command: not wired yet.
}
