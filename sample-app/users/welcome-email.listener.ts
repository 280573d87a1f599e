import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from 'nestjs-event-bus';
import { ReceivedEvents } from '../events/received-events.service';
import { UserRegistered } from './user-registered.event';

/** Async listener with a retry policy: runs on a later tick, never delaying the request. */
@Injectable()
export class WelcomeEmailListener {
  private readonly logger = new Logger(WelcomeEmailListener.name);

  constructor(private readonly received: ReceivedEvents) {}

  @OnEvent(UserRegistered, { async: true })
  async sendWelcome(event: UserRegistered): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 20)); // an SMTP call would go here
    this.received.record('WelcomeEmailListener.sendWelcome', 'user.registered', { userId: event.userId, email: event.email });
    this.logger.log(`welcome email sent to ${event.email}`);
  }
}
