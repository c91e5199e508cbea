import { DEFAULT_MAX_FACES_PER_IDENTIFY } from '../service/frame-faces.js';
import { ProbityError } from '../errors.js';

/**
 * `probity serve`'s settings: each one a flag and a PROBITY_* variable, read as
 * flag > environment > default. A bad value is refused naming the flag or the variable it came
 * from. Secrets (PROBITY_SECRET_KEY, PROBITY_ADMIN_KEY, PROBITY_AUDIT_SIGNING_KEY,
 * PROBITY_METRICS_KEY) have no flag: a command line is visible to every user of the host.
 */

type Kind = 'string' | 'boolean';

export interface Setting {
  key: keyof ServeSettings;
  flag: string;
  env: string;
  kind: Kind;
  /** What the settings table in docs/operations.md says of it. */
  doc: string;
  /** The default shown in the table. */
  shown: string;
}

export type LogFormat = 'json' | 'pretty' | 'off';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface ServeSettings {
  port: number;
  host: string;
  data: string;
  database?: string;
  workers: number;
  development: boolean;
  rateLimit: number;
  rateBurst: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  purgeEveryHours: number;
  evaluation?: string;
  webhookAllowPrivate: boolean;
  metrics: boolean;
  maxFacesPerIdentify: number;
  auditCheckpointEntries?: number;
  auditCheckpointSeconds?: number;
  auditWitnessFile?: string;
  auditWitnessUrl?: string;
  auditOrigin?: string;
}

export const SERVE_SETTINGS: Setting[] = [
  { key: 'port', flag: 'port', env: 'PROBITY_PORT', kind: 'string', shown: '8080', doc: 'TCP port (0: any free port)' },
  { key: 'host', flag: 'host', env: 'PROBITY_HOST', kind: 'string', shown: '127.0.0.1', doc: 'address to listen on (0.0.0.0 for every interface)' },
  { key: 'data', flag: 'data', env: 'PROBITY_DATA', kind: 'string', shown: 'probity-data', doc: 'folder for the SQLite file, key files and the audit witness' },
  { key: 'database', flag: 'database', env: 'PROBITY_DATABASE_URL', kind: 'string', shown: '(SQLite in the data folder)', doc: 'a postgres:// URL' },
  { key: 'workers', flag: 'workers', env: 'PROBITY_WORKERS', kind: 'string', shown: '1', doc: 'service processes sharing the port, 1 to 64' },
  { key: 'development', flag: 'development', env: 'PROBITY_ENV', kind: 'boolean', shown: 'production', doc: '`PROBITY_ENV=development`: key files made when missing, pretty logs' },
  { key: 'rateLimit', flag: 'rate-limit', env: 'PROBITY_RATE_LIMIT', kind: 'string', shown: '20', doc: 'requests per second per key' },
  { key: 'rateBurst', flag: 'rate-burst', env: 'PROBITY_RATE_BURST', kind: 'string', shown: '2 × rate limit', doc: 'requests a key may send at once' },
  { key: 'logFormat', flag: 'log-format', env: 'PROBITY_LOG_FORMAT', kind: 'string', shown: 'json (pretty in development)', doc: '`json`, `pretty` or `off`; `--log` is `--log-format json`' },
  { key: 'logLevel', flag: 'log-level', env: 'PROBITY_LOG_LEVEL', kind: 'string', shown: 'info', doc: '`fatal`, `error`, `warn`, `info`, `debug` or `trace`' },
  { key: 'purgeEveryHours', flag: 'purge-every', env: 'PROBITY_PURGE_EVERY_HOURS', kind: 'string', shown: '1', doc: 'hours between runs of the retention schedule (also once at start)' },
  { key: 'evaluation', flag: 'evaluation', env: 'PROBITY_EVALUATION_FILE', kind: 'string', shown: 'eval-out/results.json if present', doc: 'the evaluation results the accountability report cites' },
  { key: 'webhookAllowPrivate', flag: 'webhook-allow-private', env: 'PROBITY_WEBHOOK_ALLOW_PRIVATE', kind: 'boolean', shown: 'off', doc: 'review webhooks may go to loopback/private networks and plain http' },
  { key: 'metrics', flag: 'metrics', env: 'PROBITY_METRICS', kind: 'boolean', shown: 'off', doc: 'serve Prometheus metrics at `/metrics` (see Metrics)' },
  { key: 'maxFacesPerIdentify', flag: 'max-faces-per-identify', env: 'PROBITY_MAX_FACES_PER_IDENTIFY', kind: 'string', shown: '10', doc: 'faces an identify with `faces: "all"` searches at most; the rest are listed as not searched' },
  { key: 'auditCheckpointEntries', flag: 'audit-checkpoint-entries', env: 'PROBITY_AUDIT_CHECKPOINT_ENTRIES', kind: 'string', shown: '1000', doc: 'sign an audit checkpoint every N entries' },
  { key: 'auditCheckpointSeconds', flag: 'audit-checkpoint-seconds', env: 'PROBITY_AUDIT_CHECKPOINT_SECONDS', kind: 'string', shown: '60', doc: '… and every N seconds' },
  { key: 'auditWitnessFile', flag: 'audit-witness-file', env: 'PROBITY_AUDIT_WITNESS_FILE', kind: 'string', shown: 'DATA/audit-witness.jsonl', doc: 'where checkpoints are appended' },
  { key: 'auditWitnessUrl', flag: 'audit-witness-url', env: 'PROBITY_AUDIT_WITNESS_URL', kind: 'string', shown: '(none)', doc: 'an http(s) URL each checkpoint is also POSTed to' },
  { key: 'auditOrigin', flag: 'audit-origin', env: 'PROBITY_AUDIT_ORIGIN', kind: 'string', shown: '(derived)', doc: 'the name the checkpoints give this log' },
];

/** The parseArgs options for every setting (plus `--log`, kept from before). */
export function serveFlagOptions(): Record<string, { type: Kind }> {
  const out: Record<string, { type: Kind }> = { log: { type: 'boolean' } };
  for (const s of SERVE_SETTINGS) out[s.flag] = { type: s.kind };
  return out;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

function bad(source: string, message: string, raw: string): never {
  throw new ProbityError('invalid_argument', `${source} ${message}, got "${raw}"`);
}

/**
 * Resolves the settings from parsed flags and the environment. `flags` holds what parseArgs
 * returned (strings and booleans by flag name).
 */
export function resolveServeSettings(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, defaults: { evaluation?: string } = {}): ServeSettings {
  const raw = (s: Setting): { value: string | boolean; source: string } | undefined => {
    const f = flags[s.flag];
    if (f !== undefined) return { value: f, source: `--${s.flag}` };
    const e = env[s.env];
    if (e === undefined || e === '') return undefined;
    if (s.key === 'development') {
      if (e !== 'development' && e !== 'production') bad(s.env, 'must be "development" or "production"', e);
      return { value: e === 'development', source: s.env };
    }
    if (s.kind === 'boolean') {
      const v = e.toLowerCase();
      if (!TRUE.has(v) && !FALSE.has(v)) bad(s.env, 'must be 1 or 0 (true/false, yes/no, on/off)', e);
      return { value: TRUE.has(v), source: s.env };
    }
    return { value: e, source: s.env };
  };
  const setting = (key: keyof ServeSettings) => SERVE_SETTINGS.find((s) => s.key === key)!;
  const text = (key: keyof ServeSettings): { value: string; source: string } | undefined => {
    const r = raw(setting(key));
    return r === undefined ? undefined : { value: String(r.value), source: r.source };
  };
  const bool = (key: keyof ServeSettings): boolean => raw(setting(key))?.value === true;
  const number = (key: keyof ServeSettings, fallback: number, check: (v: number) => boolean, what: string): number => {
    const r = text(key);
    if (!r) return fallback;
    const v = Number(r.value);
    if (r.value.trim() === '' || !Number.isFinite(v) || !check(v)) bad(r.source, `must be ${what}`, r.value);
    return v;
  };
  const optionalNumber = (key: keyof ServeSettings, check: (v: number) => boolean, what: string): number | undefined =>
    text(key) === undefined ? undefined : number(key, 0, check, what);

  const development = bool('development');
  const rateLimit = number('rateLimit', 20, (v) => v > 0, 'a positive number of requests per second');
  const database = text('database');
  if (database && !/^postgres(ql)?:\/\//.test(database.value)) bad(database.source, 'must be a postgres:// URL', database.value.replace(/\/\/[^@/]*@/, '//…@'));
  const logFormat = flags.log === true && flags['log-format'] === undefined ? { value: 'json', source: '--log' } : text('logFormat');
  if (logFormat && !['json', 'pretty', 'off'].includes(logFormat.value)) bad(logFormat.source, 'must be json, pretty or off', logFormat.value);
  const logLevel = text('logLevel');
  if (logLevel && !LOG_LEVELS.includes(logLevel.value as LogLevel)) bad(logLevel.source, `must be one of ${LOG_LEVELS.join(', ')}`, logLevel.value);
  const witnessUrl = text('auditWitnessUrl');
  if (witnessUrl && !/^https?:\/\//.test(witnessUrl.value)) bad(witnessUrl.source, 'must be an http(s) URL', witnessUrl.value);
  const evaluation = text('evaluation')?.value ?? defaults.evaluation;
  const entries = optionalNumber('auditCheckpointEntries', (v) => Number.isInteger(v) && v > 0, 'a positive whole number of entries');
  const seconds = optionalNumber('auditCheckpointSeconds', (v) => v > 0, 'a positive number of seconds');
  const witnessFile = text('auditWitnessFile')?.value;
  const origin = text('auditOrigin')?.value;
  return {
    port: number('port', 8080, (v) => Number.isInteger(v) && v >= 0 && v < 65536, 'a port number (0 to 65535)'),
    host: text('host')?.value ?? '127.0.0.1',
    data: text('data')?.value ?? 'probity-data',
    ...(database ? { database: database.value } : {}),
    workers: number('workers', 1, (v) => Number.isInteger(v) && v >= 1 && v <= 64, 'a whole number from 1 to 64'),
    development,
    rateLimit,
    rateBurst: number('rateBurst', rateLimit * 2, (v) => v >= 1, 'a number of requests, at least 1'),
    logFormat: (logFormat?.value as LogFormat | undefined) ?? (development ? 'pretty' : 'json'),
    logLevel: (logLevel?.value as LogLevel | undefined) ?? 'info',
    purgeEveryHours: number('purgeEveryHours', 1, (v) => v > 0, 'a positive number of hours'),
    ...(evaluation ? { evaluation } : {}),
    webhookAllowPrivate: bool('webhookAllowPrivate'),
    metrics: bool('metrics'),
    maxFacesPerIdentify: number('maxFacesPerIdentify', DEFAULT_MAX_FACES_PER_IDENTIFY, (v) => Number.isInteger(v) && v >= 1 && v <= 100, 'a whole number of faces from 1 to 100'),
    ...(entries !== undefined ? { auditCheckpointEntries: entries } : {}),
    ...(seconds !== undefined ? { auditCheckpointSeconds: seconds } : {}),
    ...(witnessFile ? { auditWitnessFile: witnessFile } : {}),
    ...(witnessUrl ? { auditWitnessUrl: witnessUrl.value } : {}),
    ...(origin ? { auditOrigin: origin } : {}),
  };
}

/**
 * The environment the service's own readers see (the audit witness reads its settings there):
 * flags that set audit checkpoint options written over the variables they stand for.
 */
export function effectiveEnvironment(s: ServeSettings, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...env,
    ...(s.auditCheckpointEntries !== undefined ? { PROBITY_AUDIT_CHECKPOINT_ENTRIES: String(s.auditCheckpointEntries) } : {}),
    ...(s.auditCheckpointSeconds !== undefined ? { PROBITY_AUDIT_CHECKPOINT_SECONDS: String(s.auditCheckpointSeconds) } : {}),
    ...(s.auditWitnessFile ? { PROBITY_AUDIT_WITNESS_FILE: s.auditWitnessFile } : {}),
    ...(s.auditWitnessUrl ? { PROBITY_AUDIT_WITNESS_URL: s.auditWitnessUrl } : {}),
    ...(s.auditOrigin ? { PROBITY_AUDIT_ORIGIN: s.auditOrigin } : {}),
  };
}

/** The settings table of docs/operations.md, generated so the document and the code cannot drift apart. */
export function settingsTable(): string {
  const rows = SERVE_SETTINGS.map((s) => `| \`--${s.flag}\` | \`${s.env}\` | ${s.shown} | ${s.doc} |`);
  return ['| flag | variable | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
