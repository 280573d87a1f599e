import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { EventBus } from 'nestjs-event-bus';
import { UserRegistered } from './user-registered.event';

interface RegisterUserDto {
  userId?: string;
  email?: string;
}

@Controller('users')
export class UsersController {
  constructor(private readonly bus: EventBus) {}

  /** Dispatches and waits for every local listener; reports their errors in the response. */
  @Post()
  @HttpCode(201)
  async register(@Body() body: RegisterUserDto | undefined) {
    // `curl -X POST /users` sends no body (Express then leaves it undefined): make up a user.
    const userId = body?.userId ?? `u${Date.now()}`;
    const email = body?.email ?? `${userId}@example.com`;
    const result = await this.bus.dispatch(new UserRegistered(userId, email));
    return { userId, handleId: result.id, errors: result.errors.map((e) => e.message) };
  }
}
