// Plain functions that turn run events and step results into the words the user reads. They know
// nothing of VS Code, so the unit tests run them directly.
import * as path from 'path';
import type { RunEvent, StepSummary } from './protocol';

/** "12 ms", "1.2 s", "2m05s": the same as the server's lenses and `weft run`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** The reason the engine gives for skipping a step the user did not ask for. */
export const NOT_SELECTED = 'not selected';

/**
 * One readable line for a run event ("▶ build", "✓ build 12 ms", "✗ test: exit 3"), or undefined for
 * events that would only be noise (steps that were not selected for this run).
 */
export function eventLine(event: RunEvent, fileName?: string): string | undefined {
  const step = event.step ?? '';
  const data = event.data ?? {};
  const attempt = num(data.attempt);
  const duration = num(data.duration_ms);
  const exitCode = num(data.exit_code);
  const reason = str(data.reason);
  const ofAttempt = attempt !== undefined && attempt > 1 ? ` (attempt ${attempt})` : '';
  const file = fileName ?? str(data.file);
  const name = file ? path.basename(file) : 'workflow';
  switch (event.kind) {
    case 'run_started':
      return `▶ run ${event.run} of ${name}`;
    case 'run_resumed':
      return `⟳ run ${event.run} of ${name} resumed`;
    case 'step_started':
      return `▶ ${step}${ofAttempt}`;
    case 'step_succeeded':
      return `✓ ${step}${duration !== undefined ? ' ' + formatDuration(duration) : ''}${ofAttempt}`;
    case 'step_failed': {
      const what = exitCode !== undefined && exitCode !== 0 ? `exit ${exitCode}` : reason ?? 'failed';
      const more = exitCode !== undefined && exitCode !== 0 && reason && !reason.includes(`exit`) ? ` (${reason})` : '';
      return `✗ ${step}: ${what}${more}${duration !== undefined ? ' · ' + formatDuration(duration) : ''}${ofAttempt}`;
    }
    case 'step_timed_out':
      return `✗ ${step}: timed out${duration !== undefined ? ' after ' + formatDuration(duration) : ''}${ofAttempt}`;
    case 'step_skipped':
      return reason === NOT_SELECTED ? undefined : `⊘ ${step}: skipped${reason ? ` (${reason})` : ''}`;
    case 'step_canceled':
      return `■ ${step}: canceled`;
    case 'step_retry_scheduled': {
      const delay = num(data.delay_ms);
      return `⟳ ${step}: attempt ${attempt ?? '?'} failed${reason ? ` (${reason})` : ''}, retrying${delay !== undefined ? ' in ' + formatDuration(delay) : ''}`;
    }
    case 'step_timeout':
      return `⏱ ${step}: time is up, stopping it${ofAttempt}`;
    case 'step_recovered':
      return `↺ ${step}: recovered by its fallback ${str(data.fallback) ?? ''}`.trimEnd();
    case 'fallback_started':
      return `↪ ${step}: runs as the fallback of ${str(data.for) ?? '?'}`;
    case 'circuit_opened':
      return `⚠ circuit open for ${str(data.key) ?? step} after ${num(data.failures) ?? '?'} failures`;
    case 'run_cancel_requested':
      return `■ cancel requested${reason ? ` (${reason})` : ''}`;
    case 'hook_finished': {
      const ok = data.success === true;
      const detail = str(data.detail);
      return `  hook ${str(data.point) ?? ''}${step ? ` (${step})` : ''}: ${ok ? 'ok' : 'failed'}${!ok && detail ? ` · ${detail}` : ''}`;
    }
    case 'step_waiting':
      return `⏸ ${step}: waiting for approval${str(data.prompt) ? `: ${str(data.prompt)}` : ''}`;
    case 'step_approved':
      return `✓ ${step}: approved by ${str(data.by) ?? '?'}${reason ? ` (${reason})` : ''}`;
    case 'step_rejected':
      return `✗ ${step}: rejected by ${str(data.by) ?? '?'}${reason ? `: ${reason}` : ''}`;
    case 'step_overridden':
      return `⤼ ${step}: skipped by ${str(data.by) ?? '?'}${reason ? ` (${reason})` : ''}`;
    case 'rollback_started':
      return '↩ rolling back completed steps';
    case 'rollback_completed':
      return '↩ rollback done';
    case 'run_finished': {
      const status = str(data.status) ?? 'finished';
      return `${statusSymbol(status)} run ${event.run} ${status}`;
    }
    default:
      return `· ${event.kind.replace(/_/g, ' ')}${step ? ` ${step}` : ''}`;
  }
}

export function statusSymbol(status: string): string {
  switch (status) {
    case 'succeeded':
      return '✓';
    case 'failed':
    case 'timed_out':
      return '✗';
    case 'canceled':
      return '■';
    case 'quarantined':
      return '⚠';
    case 'skipped':
      return '⊘';
    case 'running':
      return '⏳';
    case 'waiting':
      return '⏸';
    case 'rolled_back':
      return '↺';
    case 'interrupted':
      return '⚡';
    default:
      return '·';
  }
}

/** What the runs view says next to a step: "12 ms", "exit 3 · 1 ms", "skipped: condition false". */
export function stepDescription(step: StepSummary): string {
  const parts: string[] = [];
  switch (step.status) {
    case 'failed':
      parts.push(step.exit_code !== null && step.exit_code !== 0 ? `exit ${step.exit_code}` : step.reason ?? 'failed');
      break;
    case 'timed_out':
      parts.push('timed out');
      break;
    case 'skipped':
      parts.push(step.reason ? `skipped: ${step.reason}` : 'skipped');
      break;
    case 'succeeded':
      break;
    default:
      parts.push(step.status);
  }
  if (step.duration_ms !== null && step.duration_ms !== undefined && step.status !== 'skipped') {
    parts.push(formatDuration(step.duration_ms));
  }
  if (step.attempts > 1) {
    parts.push(`${step.attempts} attempts`);
  }
  return parts.join(' · ');
}

/** "12:03:04" of an ISO or SQLite time stamp, in local time; the text itself if it does not parse. */
export function clockTime(stamp: string | null | undefined): string {
  if (!stamp) {
    return '';
  }
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(stamp) || !/\d\d:\d\d/.test(stamp) ? stamp : stamp.replace(' ', 'T') + 'Z');
  if (Number.isNaN(date.getTime())) {
    return stamp;
  }
  return date.toLocaleTimeString(undefined, { hour12: false });
}

export function elapsedMs(start: string | null | undefined, end: string | null | undefined): number | undefined {
  if (!start || !end) {
    return undefined;
  }
  const parse = (s: string) => new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : s.replace(' ', 'T') + 'Z').getTime();
  const ms = parse(end) - parse(start);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
