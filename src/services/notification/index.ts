/** The notification service's public surface. */
export { NotificationService } from './service.js';
export type { Target, SendInput, Message, Delivery, Rule, RuleInput, Resolvers, Person, Responses, Escalation, NotificationSettings, NotificationOptions, Template, Suppression, TimeWindow } from './service.js';
export type { KnownPosition } from './targeting.js';
export { notificationMigrations } from './schema.js';
export type { NotificationDB } from './schema.js';
export { dispatch, frameFor, recipientsOf, DISPATCH_BATCH, deliveryUpdated, updatesOf, UPDATE_BATCH, sosRaised, sosAlarmChanged, type Dispatch, type DeliveryUpdate, type DeliveryUpdates, type MessageFrame, type SosRaised } from './events.js';
export { CHANNELS, webhookSignature, type ChannelName, type ChannelSettings } from './channels/index.js';
export type { OutboxSettings } from './outbox.js';
export type { EventSource } from './catch-up.js';
export { Webhooks, WEBHOOK_EVENTS } from './webhooks.js';
export type { Webhook, WebhookInput, WebhookDelivery, WebhookDeliveryState, WebhookAttempt, WebhookEvent, WebhookSettings } from './webhooks.js';
export { SOS_FILTERS, SOS_STATES, type SosAlarm, type SosFilter, type SosState, type SosResponder } from './sos.js';
