import { Logger } from '@nestjs/common';
import type { Connection } from 'mongoose';
import { shapeOf } from './shape';

/** Where each command keeps its filter (the part that decides whether the server can use an index). */
function filterOf(name: string, command: Record<string, unknown>): unknown {
  switch (name) {
    case 'find':
    case 'count':
      return command.filter ?? command.query;
    case 'findAndModify':
      return command.query;
    case 'update':
      return (command.updates as Array<{ q: unknown }> | undefined)?.map((u) => u.q);
    case 'delete':
      return (command.deletes as Array<{ q: unknown }> | undefined)?.map((d) => d.q);
    case 'aggregate':
      return (command.pipeline as Array<Record<string, unknown>> | undefined)?.[0]?.$match;
    default:
      return undefined;
  }
}

/**
 * Logs every command slower than `thresholdMs` with its collection and filter shape (MONGO_SLOW_MS): the way to find
 * the query that scans a collection. Costs a listener per command, so it is off unless asked for.
 */
export function logSlowCommands(connection: Connection, thresholdMs: number, logger = new Logger('MongoSlowCommand')): void {
  const client = connection.getClient();
  const started = new Map<number, { name: string; collection: unknown; filter: unknown }>();
  client.on('commandStarted', (event) => {
    const command = event.command as Record<string, unknown>;
    started.set(event.requestId, { name: event.commandName, collection: command[event.commandName], filter: filterOf(event.commandName, command) });
  });
  const finish = (event: { requestId: number; duration: number }, failed: boolean) => {
    const command = started.get(event.requestId);
    started.delete(event.requestId);
    if (!command || event.duration < thresholdMs) return;
    logger.warn(
      `${command.name} ${String(command.collection)} took ${event.duration} ms${failed ? ' (failed)' : ''}; filter ${JSON.stringify(shapeOf(command.filter))}`,
    );
  };
  client.on('commandSucceeded', (event) => finish(event, false));
  client.on('commandFailed', (event) => finish(event, true));
}
