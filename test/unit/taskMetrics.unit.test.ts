import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../services/metrics.js';
import { measureTask } from '../../services/worker/taskMetrics.js';
import { sample } from '../helpers/metrics.js';

describe('measureTask', () => {
  it('counts and times each delivery by outcome, and counts retries', async () => {
    const metrics = createMetrics('worker');
    await measureTask(metrics, () => Promise.resolve({ kind: 'ack' }));
    await measureTask(metrics, () => Promise.resolve({ kind: 'retry', delayMs: 1000 }));
    await measureTask(metrics, () => Promise.resolve({ kind: 'dead-letter', reason: 'INVALID_MESSAGE' }));
    await expect(measureTask(metrics, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');

    const text = await metrics.registry.metrics();
    for (const outcome of ['ack', 'retry', 'dead-letter', 'error']) {
      expect(sample(text, 'framelog_tasks_total', { outcome })).toBe(1);
      expect(sample(text, 'framelog_task_duration_seconds_count', { outcome })).toBe(1);
    }
    expect(sample(text, 'framelog_tasks_total', { outcome: 'requeue' })).toBeUndefined();
    expect(sample(text, 'framelog_task_retries_total')).toBe(1);
  });
});
