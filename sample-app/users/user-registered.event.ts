import { DomainEvent } from 'nestjs-event-bus';

@DomainEvent('user.registered')
export class UserRegistered {
  constructor(
    readonly userId: string,
    readonly email: string,
  ) {}
}
