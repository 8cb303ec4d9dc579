/** The notification service's public surface. */
export { NotificationService } from './service.js';
export type { Target, SendInput, Message, Delivery, Rule, Resolvers } from './service.js';
export { notificationMigrations } from './schema.js';
export type { NotificationDB } from './schema.js';
export { dispatch, deliveryUpdated, type Dispatch, type DeliveryUpdate, type MessageFrame } from './events.js';
