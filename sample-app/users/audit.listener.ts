import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from 'nestjs-event-bus';
import { ReceivedEvents } from '../events/received-events.service';
import { UserRegistered } from './user-registered.event';

/** Sync listener: runs inline in dispatch(), before the HTTP response. */
@Injectable()
export class AuditListener {
  private readonly logger = new Logger(AuditListener.name);

  constructor(private readonly received: ReceivedEvents) {}

  @OnEvent(UserRegistered)
  onUserRegistered(event: UserRegistered): void {
    if (event.email.endsWith('@blocked.example')) throw new Error(`audit refused ${event.email}`);
    this.received.record('AuditListener.onUserRegistered', 'user.registered', { userId: event.userId });
    this.logger.log(`user ${event.userId} registered`);
  }
}
