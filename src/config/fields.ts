/** Field types shared by the configuration schema and the kernels' own config shapes. */
import { z } from 'zod';

export const port = z.number().int().min(1).max(65535);

/** A duration in milliseconds with a default and a floor. */
export const ms = (def: number, min = 0) => z.number().int().min(min).default(def);
