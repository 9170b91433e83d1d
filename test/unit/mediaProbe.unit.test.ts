import { describe, expect, it } from 'vitest';
import { ErrorCode, FramelogError } from '../../services/domain/errors.js';
import type { FfprobeOutput, FfprobeStream } from '../../services/media/ffprobe.js';
import { clockwiseRotation, interpretProbe, normaliseRotation, parseRate } from '../../services/media/probe.js';

const limits = { maxDurationSeconds: 600, maxDimension: 4096, maxStreams: 4 };
const MP4 = 'mov,mp4,m4a,3gp,3g2,mj2';

const video = (extra: Partial<FfprobeStream> = {}): FfprobeStream => ({
  index: 0,
  codec_type: 'video',
  codec_name: 'h264',
  width: 1920,
  height: 1080,
  sample_aspect_ratio: '1:1',
  avg_frame_rate: '30000/1001',
  disposition: { default: 1, attached_pic: 0 },
  ...extra,
});
const audio = (extra: Partial<FfprobeStream> = {}): FfprobeStream => ({
  index: 1,
  codec_type: 'audio',
  codec_name: 'aac',
  channels: 2,
  disposition: { default: 1 },
  ...extra,
});
const output = (streams: FfprobeStream[], format: Partial<FfprobeOutput['format']> = {}): FfprobeOutput => ({
  streams,
  format: { format_name: MP4, duration: '12.500000', nb_streams: streams.length, ...format },
});

function refusal(fn: () => unknown): FramelogError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FramelogError);
    expect((error as FramelogError).retryable).toBe(false);
    return error as FramelogError;
  }
  throw new Error('expected a FramelogError');
}

describe('interpretProbe', () => {
  it('describes an ordinary mp4 with audio', () => {
    expect(interpretProbe(output([video(), audio()]), limits)).toEqual({
      durationSeconds: 12.5,
      width: 1920,
      height: 1080,
      videoCodec: 'h264',
      audioCodec: 'aac',
      frameRate: 29.97,
      rotation: 0,
      formatName: MP4,
      hasAudio: true,
      videoStreamIndex: 0,
      audioStreamIndex: 1,
      audioChannels: 2,
    });
  });

  it('reports no audio when there is none', () => {
    const media = interpretProbe(output([video()]), limits);
    expect(media).toMatchObject({ hasAudio: false, audioCodec: null, audioStreamIndex: null });
  });

  it.each(['matroska,webm', 'avi', 'mpegts', 'flv', 'ogg'])('accepts the %s container', (format_name) => {
    expect(interpretProbe(output([video()], { format_name }), limits).formatName).toBe(format_name);
  });

  it.each(['hls', 'concat', 'image2', 'tty', 'mp3', 'png_pipe', 'mov', ''])('refuses the %j container as UNSUPPORTED_FORMAT', (format_name) => {
    expect(refusal(() => interpretProbe(output([video()], { format_name }), limits)).code).toBe(ErrorCode.UNSUPPORTED_FORMAT);
  });

  it('refuses audio only as NO_VIDEO_STREAM, cover art included', () => {
    const cover = video({ index: 1, codec_name: 'mjpeg', disposition: { attached_pic: 1 } });
    expect(refusal(() => interpretProbe(output([audio({ index: 0 })]), limits)).code).toBe(ErrorCode.NO_VIDEO_STREAM);
    expect(refusal(() => interpretProbe(output([audio({ index: 0 }), cover]), limits)).code).toBe(ErrorCode.NO_VIDEO_STREAM);
  });

  it('picks the real video stream past cover art, and the default one among several', () => {
    const cover = video({ index: 0, codec_name: 'png', disposition: { attached_pic: 1 } });
    expect(interpretProbe(output([cover, video({ index: 1, codec_name: 'hevc' })]), limits)).toMatchObject({
      videoStreamIndex: 1,
      videoCodec: 'hevc',
    });
    const first = video({ index: 0, disposition: { default: 0 } });
    const preferred = video({ index: 2, codec_name: 'vp9', disposition: { default: 1 } });
    expect(interpretProbe(output([first, audio(), preferred]), limits).videoStreamIndex).toBe(2);
  });

  it('enforces the duration limit', () => {
    const error = refusal(() => interpretProbe(output([video()], { duration: '600.5' }), limits));
    expect(error.code).toBe(ErrorCode.DURATION_LIMIT);
    expect(interpretProbe(output([video()], { duration: '600' }), limits).durationSeconds).toBe(600);
  });

  it('falls back to the stream duration and refuses media whose duration is unknown', () => {
    expect(interpretProbe(output([video({ duration: '3.2' })], { duration: undefined }), limits).durationSeconds).toBe(3.2);
    expect(refusal(() => interpretProbe(output([video()], { duration: undefined }), limits)).code).toBe(ErrorCode.MEDIA_CORRUPT);
  });

  it('enforces the dimension limit on either side', () => {
    expect(refusal(() => interpretProbe(output([video({ width: 4098, height: 1000 })]), limits)).code).toBe(ErrorCode.DIMENSION_LIMIT);
    expect(refusal(() => interpretProbe(output([video({ width: 1000, height: 4098 })]), limits)).code).toBe(ErrorCode.DIMENSION_LIMIT);
    expect(interpretProbe(output([video({ width: 4096, height: 2160 })]), limits).width).toBe(4096);
  });

  it('enforces the stream limit, also when the format claims more streams than listed', () => {
    const many = [video(), audio(), audio({ index: 2 }), audio({ index: 3 }), audio({ index: 4 })];
    expect(refusal(() => interpretProbe(output(many), limits)).code).toBe(ErrorCode.TOO_MANY_STREAMS);
    expect(refusal(() => interpretProbe(output([video()], { nb_streams: 99 }), limits)).code).toBe(ErrorCode.TOO_MANY_STREAMS);
  });

  it('refuses a video stream without size or codec as MEDIA_CORRUPT', () => {
    expect(refusal(() => interpretProbe(output([video({ width: 0 })]), limits)).code).toBe(ErrorCode.MEDIA_CORRUPT);
    expect(refusal(() => interpretProbe(output([video({ codec_name: undefined })]), limits)).code).toBe(ErrorCode.MEDIA_CORRUPT);
  });

  it('reports display dimensions: swapped for 90/270 rotation, pixel aspect applied', () => {
    const rotated = video({ width: 1920, height: 1080, side_data_list: [{ side_data_type: 'Display Matrix', rotation: -90 }] });
    expect(interpretProbe(output([rotated]), limits)).toMatchObject({ width: 1080, height: 1920, rotation: 90 });
    const upsideDown = video({ side_data_list: [{ side_data_type: 'Display Matrix', rotation: 180 }] });
    expect(interpretProbe(output([upsideDown]), limits)).toMatchObject({ width: 1920, height: 1080, rotation: 180 });
    // DVD NTSC widescreen: 720x480 stored, 32:27 pixels → 853x480 displayed.
    const anamorphic = video({ width: 720, height: 480, sample_aspect_ratio: '32:27' });
    expect(interpretProbe(output([anamorphic]), limits)).toMatchObject({ width: 853, height: 480 });
    expect(interpretProbe(output([video({ sample_aspect_ratio: '0:1' })]), limits).width).toBe(1920);
  });

  it('gives a null frame rate when ffprobe does not know it', () => {
    expect(interpretProbe(output([video({ avg_frame_rate: '0/0' })]), limits).frameRate).toBeNull();
  });
});

describe('clockwiseRotation', () => {
  it('reads the display matrix (counter-clockwise in ffprobe) as clockwise degrees', () => {
    const matrix = (rotation: number) => ({ side_data_list: [{ side_data_type: 'Display Matrix', rotation }] });
    expect(clockwiseRotation(matrix(-90))).toBe(90);
    expect(clockwiseRotation(matrix(90))).toBe(270);
    expect(clockwiseRotation(matrix(180))).toBe(180);
    expect(clockwiseRotation(matrix(-180))).toBe(180);
    expect(clockwiseRotation(matrix(0))).toBe(0);
  });

  it('falls back to the legacy clockwise rotate tag, and prefers the matrix when both exist', () => {
    expect(clockwiseRotation({ tags: { rotate: '90' } })).toBe(90);
    expect(clockwiseRotation({ tags: { rotate: '-90' } })).toBe(270);
    expect(clockwiseRotation({ tags: { rotate: 'sideways' } })).toBe(0);
    expect(clockwiseRotation({ tags: { rotate: '90' }, side_data_list: [{ side_data_type: 'Display Matrix', rotation: 0 }] })).toBe(0);
    expect(clockwiseRotation({})).toBe(0);
  });

  it('ignores side data other than the display matrix', () => {
    expect(clockwiseRotation({ side_data_list: [{ side_data_type: 'Stereo 3D' }] })).toBe(0);
  });
});

describe('normaliseRotation', () => {
  it.each([
    [0, 0], [90, 90], [-90, 270], [270, 270], [360, 0], [450, 90], [-270, 90], [89.6, 90], [44, 0], [46, 90],
  ])('%d° → %d°', (degrees, expected) => {
    expect(normaliseRotation(degrees)).toBe(expected);
  });
});

describe('parseRate', () => {
  it.each([
    ['25/1', 25], ['30000/1001', 29.97], ['24000/1001', 23.976], ['0/0', null], ['0/1', null], ['', null], [undefined, null], ['abc', null],
  ])('%j → %j', (rate, expected) => {
    expect(parseRate(rate)).toBe(expected);
  });
});
