import { topic } from '../../ports/bus.js';
import type { Position } from '../../core/types.js';

/** Every position the tracker stored, in the order stored per device; fixes older than the last known one are flagged `late`. */
export const positionAccepted = topic<Position>('tracker.position');
