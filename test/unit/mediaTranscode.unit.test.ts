import { describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import { ffmpegFailed, parseTimemark, progressSeconds, threadInputOptions } from '../../services/media/ffmpeg.js';
import { SAFE_INPUT_OPTIONS } from '../../services/media/inputPolicy.js';
import { planLadder } from '../../services/media/ladder.js';
import { jobBudgetMs } from '../../services/media/processVideo.js';
import { dashOutputOptions, downloadOutputOptions } from '../../services/media/stream.js';
import { allowedShortfallSeconds, assertCoversSource, audioOutputOptions, GOP_SECONDS, ladderFilterGraph, videoOutputOptions } from '../../services/media/transcode.js';

const SDR_30 = { hdr: null, interlaced: false, maxFrameRate: 30 } as const;

describe('ladderFilterGraph', () => {
  it('decodes once and splits into one scaled, square-pixel yuv420p branch per rung', () => {
    expect(ladderFilterGraph(0, planLadder({ width: 1280, height: 720 }), SDR_30)).toBe(
      '[0:0]split=3[s0][s1][s2];' +
        '[s0]scale=1280:720,setsar=1,format=yuv420p[v0];' +
        '[s1]scale=854:480,setsar=1,format=yuv420p[v1];' +
        '[s2]scale=640:360,setsar=1,format=yuv420p[v2]',
    );
  });

  it('reads the chosen video stream by its index', () => {
    expect(ladderFilterGraph(3, [{ label: '120p', width: 160, height: 120 }], SDR_30)).toBe(
      '[0:3]split=1[s0];[s0]scale=160:120,setsar=1,format=yuv420p[v0]',
    );
  });

  it('deinterlaces and tone-maps once before the split, caps the frame rate per rung and tags BT.709', () => {
    const graph = ladderFilterGraph(0, planLadder({ width: 1280, height: 720 }), { hdr: 'hlg', interlaced: true, maxFrameRate: 50 });
    expect(graph).toMatch(/^\[0:0\]bwdif=mode=send_frame:parity=auto:deint=all,zscale=w=1280:h=720:tin=arib-std-b67:[^;]*tonemap=tonemap=hable[^;]*,split=3/);
    expect(graph).toContain('[s0]scale=1280:720,setsar=1,format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709[v0]');
    expect(graph).toContain('[s1]select=expr=isnan(prev_selected_t)+gte(t-prev_selected_t\\,0.032333),scale=854:480');
  });
});

describe('videoOutputOptions', () => {
  const option = (args: string[], name: string) => args[args.indexOf(name) + 1];

  it('encodes the branch as H.264 High yuv420p at capped CRF, without audio', () => {
    const args = videoOutputOptions(1, { width: 1280, height: 720 }, 2);
    expect(option(args, '-map')).toBe('[v1]');
    expect(args).toContain('-an');
    expect(option(args, '-c:v')).toBe('libx264');
    expect(option(args, '-profile:v')).toBe('high');
    expect(option(args, '-pix_fmt')).toBe('yuv420p');
    expect(option(args, '-preset')).toBe('veryfast');
    expect(option(args, '-crf')).toBe('23');
    expect(option(args, '-maxrate')).toBe('3000k');
    expect(option(args, '-bufsize')).toBe('6000k');
    expect(option(args, '-threads')).toBe('2');
    expect(option(args, '-map_metadata')).toBe('-1');
    expect(option(args, '-f')).toBe('mp4');
  });

  it('forces a keyframe every GOP_SECONDS by time and none at scene cuts, so rungs align', () => {
    const args = videoOutputOptions(0, { width: 640, height: 360 }, 0);
    expect(option(args, '-force_key_frames')).toBe(`expr:gte(t,n_forced*${GOP_SECONDS})`);
    expect(option(args, '-sc_threshold')).toBe('0');
  });
});

describe('audioOutputOptions', () => {
  it('encodes the chosen audio stream once as AAC stereo, without video', () => {
    const args = audioOutputOptions(1, 0);
    expect(args).toEqual(expect.arrayContaining(['-map', '0:1', '-vn', '-c:a', 'aac', '-ac', '2']));
  });
});

describe('packaging options', () => {
  it('copies every video and the audio into DASH with one adaptation set per kind', () => {
    const args = dashOutputOptions([{ width: 1280, height: 720 }, { width: 854, height: 480 }], 2);
    expect(args).toEqual(expect.arrayContaining(['-map', '0:v:0', '-map', '1:v:0', '-map', '2:a:0', '-c', 'copy', '-f', 'dash']));
    expect(args[args.indexOf('-adaptation_sets') + 1]).toBe('id=0,streams=v  id=1,streams=a');
    expect(args[args.indexOf('-adaptation_sets') + 1]).not.toMatch(/^[^ ]* [^ ]*$/);
    const silent = dashOutputOptions([{ width: 640, height: 360 }], null);
    expect(silent.filter((arg) => arg.includes(':a:'))).toEqual([]);
    expect(silent[silent.indexOf('-adaptation_sets') + 1]).toBe('id=0,streams=v');
  });

  it("declares the largest rung's display aspect on every segment stream (the muxer refuses a mixed set)", () => {
    const args = dashOutputOptions([{ width: 1280, height: 720 }, { width: 854, height: 480 }], null);
    expect(args).toEqual(expect.arrayContaining(['-aspect:v:0', '1280:720', '-aspect:v:1', '1280:720']));
  });

  it('remuxes each download with faststart, with audio only when there is some', () => {
    expect(downloadOutputOptions(1, 3)).toEqual(expect.arrayContaining(['-map', '1:v:0', '-map', '3:a:0', '-c', 'copy', '-movflags', '+faststart']));
    expect(downloadOutputOptions(0, null).filter((arg) => arg.includes(':a:'))).toEqual([]);
  });

  it('keeps every argument free of a single space (fluent-ffmpeg splits an option with one space in two)', () => {
    const args = [...videoOutputOptions(0, { width: 640, height: 360 }, 0), ...audioOutputOptions(1, 0), ...dashOutputOptions([{ width: 1280, height: 720 }], 3), ...downloadOutputOptions(0, 3)];
    for (const arg of [...args, ...SAFE_INPUT_OPTIONS]) expect(arg.split(' ')).not.toHaveLength(2);
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

describe('threadInputOptions', () => {
  it('bounds the decoder and both kinds of filter graph, or leaves everything to ffmpeg for 0', () => {
    expect(threadInputOptions(2)).toEqual(['-threads', '2', '-filter_threads', '2', '-filter_complex_threads', '2']);
    expect(threadInputOptions(0)).toEqual([]);
  });
});

describe('allowedShortfallSeconds', () => {
  it('tolerates half a second or 10 %, whichever is more', () => {
    expect(allowedShortfallSeconds(1)).toBe(0.5);
    expect(allowedShortfallSeconds(4)).toBe(0.5);
    expect(allowedShortfallSeconds(60)).toBe(6);
  });
});

describe('assertCoversSource', () => {
  const refusal = (written: number | null, duration: number) => {
    try {
      assertCoversSource(written, duration);
    } catch (error) {
      return error;
    }
    return undefined;
  };

  it('accepts a rendition within the allowed shortfall, longer ones too', () => {
    expect(refusal(9.97, 10)).toBeUndefined();
    expect(refusal(9.0, 10)).toBeUndefined();
    expect(refusal(0.5, 1)).toBeUndefined();
    expect(refusal(10.02, 10)).toBeUndefined();
  });

  it('refuses a shorter one, or one of unknown length, as MEDIA_CORRUPT with what was decoded', () => {
    const short = refusal(4.9, 10);
    expect(short).toBeInstanceOf(FramelogError);
    expect(short).toMatchObject({ code: ErrorCode.MEDIA_CORRUPT, retryable: false, details: { decodedSeconds: 4.9, durationSeconds: 10 } });
    expect(refusal(0.49, 1)).toMatchObject({ code: ErrorCode.MEDIA_CORRUPT });
    expect(refusal(null, 10)).toMatchObject({ code: ErrorCode.MEDIA_CORRUPT, details: { decodedSeconds: null } });
  });
});

describe('progressSeconds', () => {
  it("reads the time of ffmpeg's progress reports, with or without video", () => {
    expect(progressSeconds('frame=   90 fps=0.0 q=-1.0 Lq=-1.0 size=     282kB time=00:00:03.01 bitrate= 764.3kbits/s speed=4.16x    ')).toBe(3.01);
    expect(progressSeconds('size=     512kB time=01:02:03.45 bitrate= 128.0kbits/s speed=50x')).toBeCloseTo(3723.45);
    expect(progressSeconds('frame=    0 fps=0.0 q=0.0 size=       0kB time=N/A bitrate=N/A speed=N/A')).toBeNull();
  });

  it('ignores every other line, including metadata of the upload that imitates a report', () => {
    expect(progressSeconds('    title           : frame=1 time=99:00:00.00')).toBeNull();
    expect(progressSeconds('                    : frame=2 time=98:00:00.00')).toBeNull();
    expect(progressSeconds('video:306kB audio:52kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown')).toBeNull();
  });
});

describe('ffmpegFailed', () => {
  const exited = new Error('ffmpeg exited with code 1: Conversion failed!');

  it.each([
    ['file:/m/uploads/x/source: Invalid data found when processing input'],
    ['[mov,mp4,m4a,3gp,3g2,mj2 @ 0x1] moov atom not found'],
    ['Decoder (codec none) not found for input stream #0:0'],
  ])('calls the input damaged, never to be retried: %s', (stderr) => {
    expect(ffmpegFailed(exited, stderr)).toMatchObject({ code: ErrorCode.MEDIA_CORRUPT, retryable: false });
  });

  it('retries failures of the machine, even when the input also had damaged packets', () => {
    expect(ffmpegFailed(exited, 'av_interleaved_write_frame(): No space left on device')).toMatchObject({ code: ErrorCode.TRANSCODE_FAILED, retryable: true });
    expect(ffmpegFailed(exited, 'corrupt decoded frame in stream 0\nNo space left on device')).toMatchObject({ code: ErrorCode.TRANSCODE_FAILED, retryable: true });
    expect(ffmpegFailed(new Error('ffmpeg was killed with signal SIGSEGV'), '')).toMatchObject({ code: ErrorCode.TRANSCODE_FAILED, retryable: true });
  });
});
