/**
 * The shape of temporal.config.yaml, defined once. The loader validates against it, and
 * `scripts/gen-schema.ts` turns it into the JSON Schema editors use, so the two can never disagree.
 */
import { z } from 'zod';
import { KERNEL_MANIFESTS } from '../../kernels/manifests';
import type { KernelManifest } from '../../kernels/manifest';
import { joinSeeds, seedListProblems } from './bus-url';
import { ms, port } from './fields';
import { DETECTOR_CONFIGS } from '../healing/detectors/configs';
import type { DetectorConfig } from '../healing/detectors/define';
import { SNAPSHOT_TYPES } from '../snapshots/type-names';

const HOST_PORT = String.raw`[^\s:,]+:\d{1,5}`;

/** One frontend address, or several separated by commas (tried in order: src/clients/temporal.ts). */
const hostPorts = z
  .string()
  .regex(new RegExp(`^${HOST_PORT}(\\s*,\\s*${HOST_PORT})*$`), 'expected HOST:PORT, or several separated by commas, for example 127.0.0.1:7233');

export const TlsSchema = z
  .strictObject({
    serverName: z.string().optional().describe('Server name to verify (SNI), when it is not the host of the address'),
    caFile: z.string().optional().describe("PEM file of the CA that signed the server certificate (default: the system's roots)"),
    certFile: z.string().optional().describe('PEM client certificate, for mutual TLS (with keyFile)'),
    keyFile: z.string().optional().describe('PEM client key, for mutual TLS (with certFile)'),
  })
  .refine((t) => Boolean(t.certFile) === Boolean(t.keyFile), { message: 'give certFile and keyFile together (mutual TLS), or neither' })
  .describe('TLS for a remote Temporal cluster or Temporal Cloud; paths are taken from the config file');

export const TemporalSchema = z
  .strictObject({
    address: hostPorts
      .default('127.0.0.1:7233')
      .describe('Frontend gRPC address (env TEMPORAL_ADDRESS); for a cluster several, comma-separated, tried in order when a process connects (docs/deploy.md)'),
    namespace: z.string().min(1).default('default'),
    embedded: z
      .boolean()
      .default(true)
      .describe('Start the Temporal CLI dev server on this machine; false for a real cluster'),
    uiPort: port.default(8233).describe('Port of the embedded Web UI'),
    webUiUrl: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL')
      .optional()
      .describe("The Web UI of a real cluster (temporal-ui), printed by `up` and `status` and linked by the dashboard; with embedded: true the dev server's own (http://HOST:uiPort) is used"),
    taskQueues: z
      .strictObject({
        healing: z.string().min(1).default('layer1-healing'),
        codingAgent: z.string().min(1).default('layer1-coding-agent'),
        chaos: z.string().min(1).default('layer1-chaos').describe('Where chaos drills run (the chaos workers), apart from the healing they test'),
      })
      .prefault({}),
    tls: z
      .union([z.literal(true), TlsSchema])
      .optional()
      .describe("TLS to the frontends: true with the system's root CAs, or the files to use"),
  })
  .superRefine((t, ctx) => {
    if (t.embedded && t.address.includes(',')) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'the embedded dev server listens on one address: give one, or set temporal.embedded: false for a cluster' });
    }
  });

export const StoreSchema = z.strictObject({
  uri: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'expected a mongodb:// or mongodb+srv:// URI')
    .default('mongodb://127.0.0.1:27018/?retryWrites=false')
    .describe('MongoDB URI (env MONGODB_URI); FerretDB needs retryWrites=false'),
  database: z.string().min(1).default('layer1'),
  embedded: z.boolean().default(true).describe('Start the embedded FerretDB; false for a real MongoDB'),
});

/** `bus.url`: one NATS URL or a seed list, as a comma-separated string or a YAML list; always a string after parsing. */
const busUrl = z
  .union([z.string(), z.array(z.string()).min(1)])
  .default('nats://127.0.0.1:4222')
  .transform((v) => joinSeeds(v))
  .pipe(
    z.string().superRefine((list, ctx) => {
      for (const message of seedListProblems(list)) ctx.addIssue({ code: 'custom', message });
    }),
  );

export const BusSchema = z
  .strictObject({
    url: busUrl.describe("NATS server URL, or a cluster's seed list: comma-separated nats://HOST:PORT (or tls://) URLs, or a YAML list of them (env NATS_URL). Clients get every seed and fail over between them"),
    monitorPort: port.default(8222).describe('HTTP monitoring port of the embedded server (/healthz)'),
    monitorUrls: z
      .array(z.string().regex(/^https?:\/\/[^\s/]+\/?$/, "expected http://HOST:PORT, a node's monitoring endpoint (nats-server's `http:`)"))
      .default([])
      .describe("An external cluster's monitoring endpoints, one per node (http://HOST:PORT): health asks each for /healthz?js-enabled-only=true and is ok when one answers ok. Empty: each seed of bus.url is asked for its INFO line instead. Not used by the embedded bus (bus.monitorPort)"),
    embedded: z.boolean().default(true).describe('Start the embedded nats-server; false for a NATS cluster (install the users of `layer1 bus render-acl` in it)'),
    credentials: z
      .strictObject({
        user: z.string().min(1),
        password: z.string().min(1),
      })
      .optional()
      .describe("The operator's user and password on an external bus (admin work: streams, the CLI, probes); every kernel connects as its own ACL user from the rendered credentials, never with these"),
    replicas: z
      .strictObject({
        streams: z.number().int().min(1).max(5).default(1).describe('Replicas of each JetStream stream of the ACL policy: 1 on the embedded bus (one server), 3 on a 3-node cluster. Applied to existing streams too'),
        consumers: z.number().int().min(0).max(5).default(0).describe("Replicas of each durable consumer of the ACL policy; 0: as its stream's"),
      })
      .prefault({})
      .describe('JetStream replication of the streams and durable consumers Layer 1 creates (ensureStreams), applied idempotently to existing ones'),
  })
  .superRefine((bus, ctx) => {
    if (bus.replicas.consumers > bus.replicas.streams) {
      ctx.addIssue({ code: 'custom', path: ['replicas', 'consumers'], message: `a consumer cannot have more replicas (${bus.replicas.consumers}) than its stream (bus.replicas.streams: ${bus.replicas.streams})` });
    }
    if (!bus.embedded) return;
    const seeds = bus.url.split(',').length;
    if (seeds > 1) ctx.addIssue({ code: 'custom', path: ['url'], message: `the embedded bus is one nats-server on one address, but bus.url lists ${seeds} seeds: a seed list is for an external cluster (bus.embedded: false)` });
    if (bus.replicas.streams > 1) ctx.addIssue({ code: 'custom', path: ['replicas', 'streams'], message: `the embedded bus is one server: it cannot hold ${bus.replicas.streams} replicas of a stream (bus.replicas.streams is for an external cluster)` });
    if (bus.replicas.consumers > 1) ctx.addIssue({ code: 'custom', path: ['replicas', 'consumers'], message: `the embedded bus is one server: it cannot hold ${bus.replicas.consumers} replicas of a consumer` });
  });

export const WorkerSchema = z.strictObject({
  replicas: z.number().int().min(1).max(8).default(1),
});

export const PreflightSchema = z.strictObject({
  minFreeDiskMb: z.number().int().min(0).default(512).describe('Free space required in the state directory'),
});

/** Kubernetes liveness semantics: probe every periodMs; failureThreshold failures in a row is a breach. */
export const LivenessSchema = z.strictObject({
  periodMs: z.number().int().min(50).default(1000),
  timeoutMs: z.number().int().min(10).default(500),
  failureThreshold: z.number().int().min(1).default(3),
});

const kernelBase = {
  critical: z.boolean().describe('A critical kernel that fails its self-test fails the boot; an optional one means degraded mode'),
  liveness: LivenessSchema.prefault({}),
  readiness: z
    .strictObject({
      attempts: z.number().int().min(1).default(20).describe('Self-test attempts before the kernel counts as failed'),
      initialBackoffMs: z.number().int().min(10).default(100),
      maxBackoffMs: z.number().int().min(10).default(2000),
    })
    .prefault({}),
};

/** One kernel's keys: critical (its manifest's default), liveness, readiness, and the manifest's own. */
function kernelSchema<S extends z.ZodRawShape>(m: KernelManifest<string, S>) {
  return z.strictObject({ ...kernelBase, critical: kernelBase.critical.default(m.critical), ...m.config }).prefault({} as never);
}

type KernelSchemas<M extends readonly KernelManifest[]> = { [K in M[number] as K['name']]: ReturnType<typeof kernelSchema<K['config']>> };

/** `kernels:` for a list of kernel manifests: one key per kernel. */
export function kernelsSchemaOf<const M extends readonly KernelManifest[]>(manifests: M) {
  return z.strictObject(Object.fromEntries(manifests.map((m) => [m.name, kernelSchema(m)])) as KernelSchemas<M>);
}

/** `kernels:`, one key per kernel manifest (kernels/manifests.ts). */
export const KernelsSchema = kernelsSchemaOf(KERNEL_MANIFESTS);

export const ControlPlaneSchema = z.strictObject({
  restartBackoff: z
    .strictObject({
      initialMs: z.number().int().min(0).default(500).describe('Delay before the second restart within the window'),
      maxMs: z.number().int().min(0).default(30000).describe('Cap of the exponential backoff'),
    })
    .prefault({}),
  crashLoop: z
    .strictObject({
      restarts: z.number().int().min(1).default(5).describe('Restarts within windowMs that mean a crash loop'),
      windowMs: z.number().int().min(1000).default(120000),
    })
    .prefault({}),
});

/**
 * The supervisor of the embedded servers (src/healing/server-supervisor.ts), run by the trigger
 * monitor of the leading healing replica: it restarts a dead Temporal dev server or store at once,
 * and one that keeps its port but stops answering after a bound. The bus is a kernel, restarted by
 * the control plane. Servers with `embedded: false` are never touched; their outages are recorded
 * (src/healing/external-watch.ts).
 */
export const ServersSchema = z.strictObject({
  supervise: z.boolean().default(true).describe('Restart a dead or hung embedded Temporal dev server or store without anyone acting (docs/self-healing.md, Servers)'),
  watchExternal: z
    .boolean()
    .default(true)
    .describe('Probe each address of the servers with embedded: false every probeEveryMs and record an outage as evidence (external_down, external_back); they are never touched (docs/self-healing.md, Servers)'),
  watchMs: ms(250, 50).describe("How often the supervisor reads the servers' pid files"),
  probeEveryMs: ms(1000, 100).describe('How often a live server (and each address of an external one) is asked whether it answers'),
  probeTimeoutMs: ms(2000, 100).describe('A health probe slower than this counts as no answer'),
  temporalHungMs: ms(20000, 1000).describe('A live Temporal dev server that has not answered for this long is killed and restarted (nothing else can act while Temporal is hung)'),
  storeHungMs: ms(60000, 1000).describe('A live store that has not answered for this long is killed and restarted; before that it is the dependency_unreachable playbook\'s case (it resumes a stopped store)'),
  backoff: z
    .strictObject({
      initialMs: ms(1000, 0).describe('Delay before the second restart of a server within windowMs (the first is at once)'),
      maxMs: ms(30000, 0).describe('Cap of the exponential backoff between restarts'),
      windowMs: ms(120000, 1000).describe('Restarts further apart than this do not back off'),
    })
    .prefault({}),
});

/** The sections `detectors:` holds, one per detector configuration (src/healing/detectors/define.ts). */
type DetectorSections<T extends readonly DetectorConfig[]> = {
  [C in T[number] as C['key']]: z.ZodPrefault<z.ZodObject<C['shape'], z.core.$strict>>;
};

/**
 * The `detectors:` section made of the given detector configurations: `enabled`, `dispatch`, and
 * one section per detector, every key optional. Exported so a test can add a detector of its own.
 */
export function detectorsSchemaOf<const T extends readonly DetectorConfig[]>(configs: T) {
  const sections = Object.fromEntries(configs.map((c) => [c.key, z.strictObject(c.shape).describe(c.describe).prefault({})])) as DetectorSections<T>;
  return z.strictObject({
    enabled: z.boolean().default(true).describe('Run the periodic detectors (the process watch and liveness probes always run)'),
    dispatch: z.boolean().default(true).describe('Start the matching playbook for each new piece of evidence'),
    ...sections,
  });
}

/**
 * The trigger monitor's detectors (src/healing/detectors/), derived from their own definitions:
 * each detector's period (`everyMs`) and thresholds. Each reports evidence when its condition
 * starts and again only after it has cleared.
 */
export const DetectorsSchema = detectorsSchemaOf(DETECTOR_CONFIGS);

/** One Temporal Schedule's timing: `every` (an interval) or `cron`; `paused` keeps it but runs nothing. */
export const ScheduleSchema = z
  .strictObject({
    cron: z.string().min(1).optional().describe('A cron expression (instead of every)'),
    every: z
      .string()
      .regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as 30s, 5m, 1h')
      .optional()
      .describe('An interval such as 60s or 1h'),
    paused: z.boolean().default(false),
  })
  .refine((s) => !(s.cron && s.every), { message: 'give either cron or every, not both' });

/**
 * The Temporal Schedules boot phase 6 creates (idempotently: one each, however often boot runs,
 * updated when their timing here changes): `snapshots` takes and prunes the typed snapshots,
 * `telemetry` publishes the metrics document on `telemetry.layer1.metrics`.
 */
export const SchedulesSchema = z.strictObject({
  snapshots: ScheduleSchema.prefault({ every: '1h' }).describe('Typed snapshots and their retention (src/snapshots/)'),
  telemetry: ScheduleSchema.prefault({ every: '60s' }).describe('The telemetry document (src/telemetry/)'),
});

export const SnapshotsSchema = z.strictObject({
  types: z
    .array(z.enum(SNAPSHOT_TYPES))
    .default([...SNAPSHOT_TYPES])
    .describe('What boot and the snapshot schedule copy (docs/snapshots.md)'),
  maxAgeMs: ms(86_400_000, 60_000).describe('Typed snapshots older than this are removed by the snapshot schedule (a type keeps its latest, however old)'),
  maxPerType: z.number().int().min(1).default(5).describe('Typed snapshots kept per type, newest first'),
});

/** One chaos schedule: which cards it drills (one after the other), and when. */
export const ChaosScheduleSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'lower case letters, digits and "-"').describe('The schedule is layer1-chaos-<name>'),
  cards: z.union([z.literal('all'), z.array(z.string().min(1)).min(1)]).default('all').describe('Card ids, or "all"'),
  cron: z.string().min(1).optional().describe('A cron expression (instead of every)'),
  every: z.string().regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as 30s, 5m, 1h').optional(),
  jitter: z.string().regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as 30s, 5m').optional().describe('Random delay added to each run'),
  paused: z.boolean().default(false),
}).refine((s) => Boolean(s.cron) !== Boolean(s.every), { message: 'give either cron or every' });

export const ChaosSchema = z.strictObject({
  workers: z.number().int().min(0).max(4).default(2).describe('Chaos worker processes (chaos-1..n) `layer1 up` starts; two, so a killed one\'s drill moves to the other'),
  cardsDir: z.string().optional().describe('Where the failure cards are (default chaos/cards in the project)'),
  schedules: z.array(ChaosScheduleSchema).default([]).describe('Temporal Schedules of drills, created or updated by boot phase 6 (overlap policy: skip)'),
});

export const TelemetrySchema = z.strictObject({
  keepMs: ms(86_400_000, 60_000).describe('Telemetry documents older than this are removed from the store by the telemetry schedule'),
});

export const MetricsSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve /metrics (Prometheus text format) from the `metrics` process `layer1 up` starts'),
  host: z
    .string()
    .regex(/^(127\.\d+\.\d+\.\d+|localhost|::1)$/, 'expected a loopback address such as 127.0.0.1: the endpoint is not authenticated')
    .default('127.0.0.1'),
  port: port.default(9464).describe('Port of /metrics'),
});

export const DashboardSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve the read-only dashboard page (src/dashboard/) from the `dashboard` process `layer1 up` starts'),
  host: z
    .string()
    .regex(/^(127\.\d+\.\d+\.\d+|localhost|::1)$/, 'expected a loopback address such as 127.0.0.1: the page is not authenticated')
    .default('127.0.0.1'),
  port: port.default(8466).describe('Port of the dashboard page and its JSON endpoint /api/state'),
  refreshMs: z.number().int().min(500).max(60_000).default(2_000).describe('How often the page asks /api/state again'),
});

export const VERIFICATION_CHECK_KEYS = ['readiness', 'detector', 'tests', 'lint', 'types'] as const;

export const IncidentsSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe('Evidence opens incidents, whose remedies are chosen by the knowledge base or the coding agent and verified before close; false: the dispatcher starts the matching playbook directly'),
  maxAttempts: z.number().int().min(1).max(5).default(2).describe('Remedy and verification cycles of one incident before it stays reopened for people'),
  knowledge: z
    .strictObject({
      autoApplyConfidence: z.number().min(0).max(1).default(0.5).describe('Confidence (lower bound of verified success) at or above which a known remedy is applied without the coding agent'),
      minSuccesses: z.number().int().min(1).default(2).describe('Verified successes a remedy needs before it is applied without the coding agent'),
      z: z.number().positive().default(1.2816).describe('Normal quantile of the Wilson lower bound (1.2816: one-sided 90%)'),
      examples: z.number().int().min(1).max(100).default(5).describe('Example texts kept per signature'),
    })
    .prefault({}),
  verification: z
    .strictObject({
      checks: z.array(z.enum(VERIFICATION_CHECK_KEYS)).default([...VERIFICATION_CHECK_KEYS]).describe('What verification runs before an incident closes'),
      checkTimeoutMs: ms(300_000, 1_000).describe('Longest one check may run'),
      extraTestsDir: z
        .string()
        .optional()
        .describe("A folder of operator mocha tests (compiled .js) run with every kernel's targeted tests, in <dir>/<kernel>/ and <dir>/all/; relative paths are taken from the state directory. @default <stateDir>/verification-tests"),
    })
    .prefault({}),
});

/**
 * The coding agent's optional LLM fixer (src/coding-agent/fixers/llm.ts): an OpenAI-compatible
 * chat-completions endpoint sent the evidence, the diagnostics' log lines and the files the error
 * names, asked for a unified diff. Off by default: nothing leaves the machine unless it is enabled.
 */
export const LlmFixerSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Ask an OpenAI-compatible endpoint for a unified diff when no other fixer knows the failure (needs url and model); off by default'),
    url: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL, for example http://127.0.0.1:11434/v1')
      .nullable()
      .default(null)
      .describe('Base URL of the OpenAI-compatible API; the fixer POSTs {url}/chat/completions'),
    model: z.string().min(1).nullable().default(null).describe('Model name sent with each request'),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .default('LAYER1_LLM_API_KEY')
      .describe('Environment variable holding the API key, sent as a Bearer token when set (the key itself is never in the config)'),
    timeoutMs: ms(30_000, 100).describe('A request not answered within this is abandoned (reason timeout)'),
    maxFileBytes: z.number().int().min(256).default(65_536).describe('A file named in the error text is sent only when it is at most this size'),
    maxFiles: z.number().int().min(0).max(50).default(5).describe('Files named in the error text sent with the prompt, at most'),
    maxLogLines: z.number().int().min(0).max(5000).default(200).describe("Last lines of the diagnostics' log sent with the prompt, at most"),
  })
  .superRefine((llm, ctx) => {
    if (!llm.enabled) return;
    for (const key of ['url', 'model'] as const) {
      if (llm[key] === null) ctx.addIssue({ code: 'custom', path: [key], message: `codingAgent.llm.enabled is true but codingAgent.llm.${key} is not set` });
    }
  });

export const CodingAgentSchema = z.strictObject({
  llm: LlmFixerSchema.prefault({}),
});

export const ConfigSchema = z
  .strictObject({
    stateDir: z
      .string()
      .min(1)
      .default('.layer1')
      .describe('Databases, logs and pid files; relative paths are taken from the config file (env LAYER1_STATE_DIR)'),
    temporal: TemporalSchema.prefault({}),
    store: StoreSchema.prefault({}),
    bus: BusSchema.prefault({}),
    workers: z
      .strictObject({
        healing: WorkerSchema.prefault({ replicas: 2 }),
        codingAgent: WorkerSchema.prefault({}),
        standby: z
          .boolean()
          .default(true)
          .describe('Keep a warm spare of each worker process, promoted in milliseconds when the worker dies (docs/architecture.md, Supervision)'),
      })
      .prefault({}),
    preflight: PreflightSchema.prefault({}),
    kernels: KernelsSchema.prefault({}),
    controlPlane: ControlPlaneSchema.prefault({}),
    servers: ServersSchema.prefault({}),
    detectors: DetectorsSchema.prefault({}),
    incidents: IncidentsSchema.prefault({}),
    codingAgent: CodingAgentSchema.prefault({}),
    schedules: SchedulesSchema.prefault({}),
    snapshots: SnapshotsSchema.prefault({}),
    telemetry: TelemetrySchema.prefault({}),
    metrics: MetricsSchema.prefault({}),
    chaos: ChaosSchema.prefault({}),
    dashboard: DashboardSchema.prefault({}),
  })
  .describe('Layer 1 configuration (temporal.config.yaml)');

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** The JSON Schema published at schema/temporal.config.schema.json. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigSchema, { io: 'input', target: 'draft-2020-12' });
}
