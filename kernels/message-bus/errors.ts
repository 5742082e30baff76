/**
 * One error class per way the message-bus kernel can fail, each with a stable `name`, the typed
 * fields a caller acts on, and `cause` forwarded. Policy problems are {@link ConfigError}s (from
 * src/config/load), so they print like configuration problems.
 */

/** Base class, so callers can catch every bus-kernel failure at once. */
export class MessageBusError extends Error {
  override name = 'MessageBusError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** No rendered credentials for a user: the bus was never rendered here, or the user is not in the policy. */
export class BusCredentialsError extends MessageBusError {
  override name = 'BusCredentialsError';
  constructor(
    readonly user: string,
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`no bus credentials for user "${user}" in ${file}: ${reason}`, options);
  }
}

/** The running server did not take a new configuration (not running, bad config, or no answer in time). */
export class BusReloadError extends MessageBusError {
  override name = 'BusReloadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** No seed of `bus.url` took the connection (each named, with why), or an external cluster refused a user's login. */
export class BusUnreachableError extends MessageBusError {
  override name = 'BusUnreachableError';
}

/** What only an embedded bus can do (a reload by signal, its log, its nats.conf), asked of an external one. */
export class ExternalBusError extends MessageBusError {
  override name = 'ExternalBusError';
  constructor(what: string, options?: { cause?: unknown }) {
    super(
      `${what}: the bus is an external cluster (bus.embedded: false), which Layer 1 does not run. Its users and permissions are the authorization block \`layer1 bus render-acl\` prints, installed and reloaded in each node by the cluster's operator`,
      options,
    );
  }
}
