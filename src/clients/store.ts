/**
 * The document store client. One options set for FerretDB and real MongoDB: FerretDB v1 has no
 * retryable writes, so they are off in the URI we default to (and must stay off there).
 */
import { MongoClient, type Db } from 'mongodb';
import type { LoadedConfig } from '../config/load';

export interface Store {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

export async function connectStore(config: Pick<LoadedConfig, 'store'>, timeoutMs = 5_000): Promise<Store> {
  const client = new MongoClient(config.store.uri, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    appName: 'layer1',
  });
  await client.connect();
  return { client, db: client.db(config.store.database), close: () => client.close() };
}
