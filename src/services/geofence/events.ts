import { topic } from '../../ports/bus.js';

/**
 * enter / exit / dwell concern a fence; within / apart concern a proximity rule (the event's
 * `fenceId` is then the rule's id and `otherDeviceId` the device it is near to or apart from).
 */
export type FenceEventType = 'enter' | 'exit' | 'dwell' | 'within' | 'apart' | ReportedEventType;

/**
 * An enter or exit that a device reported itself (an OwnTracks `transition` for a region of its own),
 * recorded for the history and never published: Follow Me's rules act on its own evaluation.
 */
export type ReportedEventType = 'reported_enter' | 'reported_exit';

/** Why an event fired: the numbers the decision was made on. */
export interface EventReason {
  /**
   * enter/exit/dwell: signed distance to the fence boundary in metres, negative inside.
   * within/apart: metres between the two devices.
   */
  distance: number;
  /** The accuracy the decision allowed for, metres (0 when unknown or when the fence ignores accuracy); for proximity, both devices' together. */
  accuracy: number;
  /** The state before the event. */
  previous: 'outside' | 'inside' | 'apart' | 'within';
  /** The exit margin (fences) or apart margin (proximity) in force, metres. */
  exitMargin?: number | undefined;
  /** dwell: when the stay began (the entering fix's time). */
  since?: number | undefined;
  /** dwell: the fence's dwell time. */
  dwellMinutes?: number | undefined;
  /** within/apart: the rule's distance, metres. */
  threshold?: number | undefined;
  /** dwell: a fix showed it, or the timer did because no fix came (docs/geofencing.md). */
  trigger?: 'fix' | 'timer' | undefined;
}

/** A device crossed a fence boundary, stayed, or came near another. `id` is stable for one occurrence, so consumers can deduplicate. */
export interface FenceEvent {
  id: string;
  tenantId: string;
  deviceId: string;
  fenceId: string;
  fenceName: string;
  type: FenceEventType;
  /** Fix time that caused the event, epoch ms (dwell: the moment the stay reached the dwell time). */
  time: number;
  lon: number;
  lat: number;
  accuracy?: number | undefined;
  /** Signed distance to the boundary in metres (negative inside); the same as reason.distance. */
  distance: number;
  otherDeviceId?: string | undefined;
  reason: EventReason;
  /** Only on reported_enter / reported_exit: `device`, the device's word, not computed (distance is 0 then). */
  source?: 'device' | undefined;
}

export const fenceEvent = topic<FenceEvent>('geofence.event');
