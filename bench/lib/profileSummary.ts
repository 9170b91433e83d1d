import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function comes from, short: `services/worker/handleTask.ts:42` or `node_modules/pg`. */
function where(frame: ProfileNode['callFrame']): string {
  const url = frame.url.replace(/^file:\/\//, '');
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules?.[1]) return `node_modules/${modules[1]}`;
  const local = /\/((?:services|bench|migrations)\/.*)$/.exec(url);
  if (local?.[1]) return `${local[1]}:${frame.lineNumber + 1}`;
  return url || '(native)';
}

/** Self time per function and per package of one .cpuprofile, largest first. */
export async function summariseProfile(file: string, top = 15): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const origin = where(node.callFrame);
    const key = `${node.callFrame.functionName || '(anonymous)'} ${origin}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const pkg = origin.startsWith('node_modules/') ? origin : origin.startsWith('services/') ? origin.split('/').slice(0, 2).join('/') : node.callFrame.functionName.startsWith('(') ? node.callFrame.functionName : 'node internals';
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
      .join('\n');
  return `${path.basename(file)} — ${(total / 1000).toFixed(0)} ms sampled\n by package:\n${list(packages)}\n by function (self):\n${list(functions)}`;
}

export async function summariseProfiles(dir: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const parts = await Promise.all(files.map((f) => summariseProfile(path.join(dir, f))));
  return parts.join('\n\n');
}
