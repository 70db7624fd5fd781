import { CONFIG, RetentionSweep } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Collection, Document } from 'mongodb';
import { Model } from 'mongoose';
import type { NotificationConfig } from '../config';
import { PlannedEvent } from './planned-event.schema';

/**
 * A day past NOTIFY_MAX_EVENT_AGE_MS: an event is stamped by its producer's clock and planned by this replica's, so a
 * record is kept a little longer than the age at which its event notifies nobody, whatever the clocks' difference.
 */
export const PLANNED_EVENTS_MARGIN_MS = 24 * 3_600_000;

/**
 * Removes the records of whom an event was told (`planned_events`, PlannedEvent) once the event is too old to notify
 * anyone (NOTIFY_MAX_EVENT_AGE_MS, with a day's margin): handled again after that, it is dropped as stale before its
 * record would be read. With no age limit (0) every record is kept: an event of any age may be handled again.
 */
@Injectable()
export class PlannedEventRetention extends RetentionSweep {
  constructor(
    @InjectModel(PlannedEvent.name) plannedEvents: Model<PlannedEvent>,
    @Inject(CONFIG) config: Pick<NotificationConfig, 'NOTIFY_MAX_EVENT_AGE_MS'>,
  ) {
    super({
      job: 'planned-events-retention',
      logger: new Logger('PlannedEvents'),
      collection: () => plannedEvents.collection as unknown as Collection<Document>,
      field: 'plannedAt',
      retentionMs: config.NOTIFY_MAX_EVENT_AGE_MS && config.NOTIFY_MAX_EVENT_AGE_MS + PLANNED_EVENTS_MARGIN_MS,
      what: 'planned-event record(s)',
    });
  }
}
