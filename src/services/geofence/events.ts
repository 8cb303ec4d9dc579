import { topic } from '../../ports/bus.js';

/** A device crossed a fence boundary. `id` is stable for one crossing, so consumers can deduplicate. */
export interface FenceEvent {
  id: string;
  tenantId: string;
  deviceId: string;
  fenceId: string;
  fenceName: string;
  type: 'enter' | 'exit';
  /** Fix time that caused the event, epoch ms. */
  time: number;
  lon: number;
  lat: number;
  accuracy?: number | undefined;
  /** Why it fired: signed distance to the boundary in metres (negative inside). */
  distance: number;
}

export const fenceEvent = topic<FenceEvent>('geofence.event');
