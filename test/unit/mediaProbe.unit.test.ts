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
  r_frame_rate: '30000/1001',
  duration: '12.500000',
  disposition: { default: 1, attached_pic: 0 },
  ...extra,
});
const audio = (extra: Partial<FfprobeStream> = {}): FfprobeStream => ({
  index: 1,
  codec_type: 'audio',
  codec_name: 'aac',
  channels: 2,
  duration: '12.500000',
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
      picture: { hdr: null, interlaced: false, maxFrameRate: 29.97 },
      frameGrid: { rateNum: 30000, rateDen: 1001, firstFrameSeconds: 0 },
      warnings: [],
    });
  });

  it('reports no audio when there is none', () => {
    const media = interpretProbe(output([video()]), limits);
    expect(media).toMatchObject({ hasAudio: false, audioCodec: null, audioStreamIndex: null });
  });

  it.each(['matroska,webm', 'avi', 'mpegts', 'flv', 'ogg', 'mpeg', 'asf', 'mxf'])('accepts the %s container', (format_name) => {
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
    const error = refusal(() => interpretProbe(output([video({ duration: '600.5' })], { duration: '600.5' }), limits));
    expect(error.code).toBe(ErrorCode.DURATION_LIMIT);
    expect(interpretProbe(output([video({ duration: '600' })], { duration: '600' }), limits).durationSeconds).toBe(600);
  });

  it('measures the output streams: a longer subtitle or non-default audio track does not count', () => {
    const subtitle: FfprobeStream = { index: 2, codec_type: 'subtitle', codec_name: 'mov_text', duration: '40' };
    const commentary = audio({ index: 3, duration: '40', disposition: { default: 0 } });
    const media = interpretProbe(output([video({ duration: '4' }), audio({ duration: '4.02' }), subtitle, commentary], { duration: '40' }), limits);
    expect(media).toMatchObject({ durationSeconds: 4.02, audioStreamIndex: 1 });
    // The movie's duration counts (a VFR video's last frame) unless it exceeds the tracks by more than 0.25 s.
    expect(interpretProbe(output([video({ duration: '4.8' })], { duration: '4.95' }), limits).durationSeconds).toBe(4.95);
  });

  it('refuses media whose duration is unknown everywhere as MEDIA_CORRUPT, and takes packet lengths when given', () => {
    const unknown = video({ duration: '279620.27', duration_ts: 0xffff_ffff });
    expect(refusal(() => interpretProbe(output([unknown], { duration: '279620.33' }), limits)).code).toBe(ErrorCode.MEDIA_CORRUPT);
    const packets = { contentSeconds: new Map([[0, 6.03]]), lastEndSeconds: 6.1 };
    expect(interpretProbe(output([unknown], { duration: '279620.33' }), limits, { packets }).durationSeconds).toBe(6.03);
  });

  it('refuses a Matroska file whose packets end well before its header says (cut off) as MEDIA_CORRUPT', () => {
    const mkv = { format_name: 'matroska,webm', duration: '10', start_time: '0' };
    const cut = { contentSeconds: new Map([[0, 4.9]]), lastEndSeconds: 5 };
    expect(refusal(() => interpretProbe(output([video()], mkv), limits, { packets: cut })).code).toBe(ErrorCode.MEDIA_CORRUPT);
    const whole = { contentSeconds: new Map([[0, 9.9]]), lastEndSeconds: 10 };
    expect(interpretProbe(output([video()], mkv), limits, { packets: whole }).durationSeconds).toBe(9.9);
    // A scan stopped early (a long data track passed the limit) proves nothing about the file's end.
    expect(interpretProbe(output([video()], mkv), limits, { packets: { ...cut, complete: false } }).durationSeconds).toBe(4.9);
    // Over the limit is DURATION_LIMIT, even though the stopped scan did not reach the header's end.
    const long = { contentSeconds: new Map([[0, 601]]), lastEndSeconds: 601, complete: false };
    expect(refusal(() => interpretProbe(output([video()], { ...mkv, duration: '5000' }), limits, { packets: long })).code).toBe(ErrorCode.DURATION_LIMIT);
  });

  it('refuses a video codec ffmpeg cannot decode as UNSUPPORTED_CODEC naming it (or its fourcc)', () => {
    const canDecode = (codec: string) => codec !== 'vvc';
    const vvc = refusal(() => interpretProbe(output([video({ codec_name: 'vvc' })]), limits, { canDecode }));
    expect(vvc).toMatchObject({ code: ErrorCode.UNSUPPORTED_CODEC, details: { codec: 'vvc' } });
    const unknown = refusal(() => interpretProbe(output([video({ codec_name: 'unknown', codec_tag_string: 'vvc1' })]), limits, { canDecode }));
    expect(unknown.message).toContain('vvc1');
  });

  it('keeps the decodable audio a player would choose; without any, no audio and a warning', () => {
    const canDecode = (codec: string) => codec !== 'mpegh_3d_audio';
    const mpegh = audio({ codec_name: 'mpegh_3d_audio' });
    const only = interpretProbe(output([video(), mpegh]), limits, { canDecode });
    expect(only).toMatchObject({ hasAudio: false, audioStreamIndex: null, audioCodec: null });
    expect(only.warnings).toEqual([{ code: 'AUDIO_NOT_DECODABLE', message: expect.stringContaining('mpegh_3d_audio') as string }]);
    const withAac = interpretProbe(output([video(), mpegh, audio({ index: 2, disposition: { default: 0 } })]), limits, { canDecode });
    expect(withAac).toMatchObject({ audioStreamIndex: 2, audioCodec: 'aac', warnings: [] });
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

  it('refuses a video stream without size as MEDIA_CORRUPT, without codec as UNSUPPORTED_CODEC', () => {
    expect(refusal(() => interpretProbe(output([video({ width: 0 })]), limits)).code).toBe(ErrorCode.MEDIA_CORRUPT);
    expect(refusal(() => interpretProbe(output([video({ codec_name: undefined })]), limits)).code).toBe(ErrorCode.UNSUPPORTED_CODEC);
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
