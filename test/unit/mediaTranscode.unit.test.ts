import { describe, expect, it } from 'vitest';
import { parseTimemark } from '../../services/media/ffmpeg.js';
import { SAFE_INPUT_OPTIONS } from '../../services/media/inputPolicy.js';
import { planLadder } from '../../services/media/ladder.js';
import { jobBudgetMs } from '../../services/media/processVideo.js';
import { ladderFilterGraph, renditionOutputOptions } from '../../services/media/transcode.js';

describe('ladderFilterGraph', () => {
  it('decodes once and splits into one scaled, square-pixel yuv420p branch per rung', () => {
    expect(ladderFilterGraph(0, planLadder({ width: 1280, height: 720 }))).toBe(
      '[0:0]split=3[s0][s1][s2];' +
        '[s0]scale=1280:720,setsar=1,format=yuv420p[v0];' +
        '[s1]scale=854:480,setsar=1,format=yuv420p[v1];' +
        '[s2]scale=640:360,setsar=1,format=yuv420p[v2]',
    );
  });

  it('reads the chosen video stream by its index', () => {
    expect(ladderFilterGraph(3, [{ label: '120p', width: 160, height: 120 }])).toBe(
      '[0:3]split=1[s0];[s0]scale=160:120,setsar=1,format=yuv420p[v0]',
    );
  });
});

describe('renditionOutputOptions', () => {
  const option = (args: string[], name: string) => args[args.indexOf(name) + 1];

  it('encodes H.264 High yuv420p with faststart and maps the branch', () => {
    const args = renditionOutputOptions(1, { audioStreamIndex: null, audioChannels: null }, 2);
    expect(option(args, '-map')).toBe('[v1]');
    expect(option(args, '-c:v')).toBe('libx264');
    expect(option(args, '-profile:v')).toBe('high');
    expect(option(args, '-pix_fmt')).toBe('yuv420p');
    expect(option(args, '-preset')).toBe('veryfast');
    expect(option(args, '-crf')).toBe('23');
    expect(option(args, '-movflags')).toBe('+faststart');
    expect(option(args, '-threads')).toBe('2');
    expect(option(args, '-map_metadata')).toBe('-1');
    expect(option(args, '-f')).toBe('mp4');
  });

  it('adds AAC only when the source has audio, downmixing more than two channels', () => {
    const silent = renditionOutputOptions(0, { audioStreamIndex: null, audioChannels: null }, 0);
    expect(silent).not.toContain('-c:a');
    const stereo = renditionOutputOptions(0, { audioStreamIndex: 1, audioChannels: 2 }, 0);
    expect(stereo).toEqual(expect.arrayContaining(['-map', '0:1', '-c:a', 'aac']));
    expect(stereo).not.toContain('-ac');
    expect(option(renditionOutputOptions(0, { audioStreamIndex: 1, audioChannels: 6 }, 0), '-ac')).toBe('2');
  });

  it('keeps every argument free of spaces (fluent-ffmpeg splits an option with one space in two)', () => {
    const args = renditionOutputOptions(0, { audioStreamIndex: 1, audioChannels: 6 }, 0);
    for (const arg of [...args, ...SAFE_INPUT_OPTIONS]) expect(arg).not.toContain(' ');
  });
});

describe('jobBudgetMs', () => {
  it('is ten times the duration, at least 60 s, never above the configured timeout', () => {
    expect(jobBudgetMs(1_200_000, 2)).toBe(60_000);
    expect(jobBudgetMs(1_200_000, 30)).toBe(300_000);
    expect(jobBudgetMs(1_200_000, 4 * 3600)).toBe(1_200_000);
    expect(jobBudgetMs(500, 30)).toBe(500);
  });
});

describe('parseTimemark', () => {
  it.each([
    ['00:00:01.50', 1.5], ['01:02:03.45', 3723.45], ['00:00:00', 0], ['N/A', null], ['-00:00:00.02', null], [undefined, null],
  ])('%j → %j', (mark, expected) => {
    expect(parseTimemark(mark)).toBe(expected);
  });
});
