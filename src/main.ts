import { loadConfig, ConfigError } from './config.js';
import { openContext, startServer } from './server.js';
import { TokensService } from './resources/tokens/service.js';
import { flushLogs } from './lib/logger.js';

const USAGE = `usage:
  edgecert serve [--role api|edge|all] [--api-listen host:port] [--data-dir dir] ...
  edgecert migrate [--database-url url]
  edgecert token create --name NAME --permission P [--permission P ...] [--zone ID ... | --account ID]
Every EDGECERT_* variable has a flag: EDGECERT_API_LISTEN <-> --api-listen.`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') return await serve(rest);
    if (command === 'migrate') return await migrate(rest);
    if (command === 'token' && rest[0] === 'create') return await tokenCreate(rest.slice(1));
    if (command === '--help' || command === 'help' || command === undefined) {
      process.stdout.write(USAGE + '\n');
      return;
    }
    throw new ConfigError(command, `unknown command\n${USAGE}`);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`edgecert: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`edgecert: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

async function serve(argv: string[]): Promise<void> {
  // The few lines printed to stdout (address, first token) must not crash the process when
  // stdout fails (a full disk, a closed pipe): the server runs on without them.
  process.stdout.on('error', () => undefined);
  const config = loadConfig(process.env, argv);
  const running = await startServer(config);
  const log = running.ctx.log;
  if (running.firstToken) {
    // Printed once, to the terminal only, never to the log.
    process.stdout.write(
      `edgecert: created the "default" account (${running.ctx.defaultAccountId}).\n` +
        `edgecert: API token (shown once, keep it): ${running.firstToken}\n`,
    );
  }
  if (running.apiUrl) process.stdout.write(`edgecert: API listening on ${running.apiUrl}/client/v4\n`);
  if (running.edge) {
    const l = running.edge.sync.loaded;
    process.stdout.write(`edgecert: edge indexed ${l.hostnames} hostnames in ${l.ms} ms (heap +${l.heapMiB.toFixed(1)} MiB)\n`);
    process.stdout.write(`edgecert: edge listening on ${running.edgeAddress} (TLS)\n`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    running.close().then(
      () => {
        flushLogs();
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'error during shutdown');
        flushLogs();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function migrate(argv: string[]): Promise<void> {
  const config = loadConfig(process.env, argv);
  const { openStore } = await import('./storage/connect.js');
  const store = await openStore(config.databaseUrl);
  const applied = await store.migrate();
  await store.close();
  process.stdout.write(applied.length ? `edgecert: applied ${applied.join(', ')}\n` : 'edgecert: schema is up to date\n');
}

async function tokenCreate(argv: string[]): Promise<void> {
  const own = { name: undefined as string | undefined, permissions: [] as string[], zones: [] as string[], account: undefined as string | undefined };
  const configArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new ConfigError(arg, 'needs a value');
      return v;
    };
    if (arg === '--name') own.name = next();
    else if (arg === '--permission') own.permissions.push(next());
    else if (arg === '--zone') own.zones.push(next());
    else if (arg === '--account') own.account = next();
    else configArgs.push(arg);
  }
  if (!own.name) throw new ConfigError('--name', 'is required');
  if (own.permissions.length === 0) throw new ConfigError('--permission', 'give at least one');
  if (own.zones.length && own.account) throw new ConfigError('--zone', 'use --zone or --account, not both');
  const config = loadConfig(process.env, configArgs);
  const { ctx } = await openContext({ ...config, logLevel: 'silent' });
  try {
    const token = await new TokensService(ctx).create({
      name: own.name,
      permissions: own.permissions,
      zoneIds: own.zones,
      accountId: own.account,
    });
    process.stdout.write(`${token.value}\n`);
  } catch (err) {
    throw new ConfigError('--permission/--zone/--account', (err as Error).message);
  } finally {
    await ctx.store.close();
  }
}
