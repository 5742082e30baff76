/**
 * The structured logger (pino, JSON lines). Workers and kernels write to their log files in the
 * state directory; the CLI writes human progress to stderr instead.
 */
import pino from 'pino';

export const logger = pino({
  name: 'layer1',
  level: process.env.LAYER1_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
});
