import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import pg from 'pg';
import { ADMIN_URL, AMQP_URL } from '../../test/helpers/env.js';

const run = promisify(execFile);

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  platform: string;
  node: string;
  postgres: string;
  rabbitmq: string;
  ffmpeg: string;
}

/** What the figures were measured on: they only compare within one run on one machine. */
export async function machineInfo(): Promise<MachineInfo> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  const { rows } = await client.query<{ server_version: string }>('show server_version').finally(() => client.end());
  const connection = await amqplib.connect(AMQP_URL);
  const rabbitmq = String(connection.connection.serverProperties.version ?? 'unknown');
  await connection.close();
  const { stdout } = await run('ffmpeg', ['-hide_banner', '-version']);
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    postgres: rows[0]?.server_version ?? 'unknown',
    rabbitmq,
    ffmpeg: stdout.split('\n')[0] ?? 'unknown',
  };
}
