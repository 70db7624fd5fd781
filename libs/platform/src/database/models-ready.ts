import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';

/**
 * Every mongoose model's collection exists and its indexes are built before the service writes: Nest awaits this
 * (onModuleInit) before the application-bootstrap hooks (outbox relay, schedulers), HTTP and the consumers start.
 * Mongoose creates collections and indexes in the background when a model is compiled; on mongo-java-server (the
 * local server) a write that races the creation of its collection can be lost (measured: 1 in 300 upserts sent next
 * to a createCollection or createIndex of the same new collection vanished, another failed). Real MongoDB does not
 * lose it, and waiting costs one round trip per model at start.
 */
@Injectable()
export class ModelsReady implements OnModuleInit {
  private readonly logger = new Logger(ModelsReady.name);

  constructor(@InjectConnection() private readonly connection: Connection) {}

  async onModuleInit(): Promise<void> {
    const names = this.connection.modelNames();
    await Promise.all(names.map((name) => this.connection.model(name).init()));
    this.logger.debug(`collections and indexes ready: ${names.join(', ')}`);
  }
}
